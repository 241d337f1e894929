# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Score result PNG folders ``<seq>/<frame>.png`` against annotations."""
import os
import os.path as osp
import struct
from typing import Dict, List, Optional

import numpy as np

from ..datasets.image_io import header_size, pixel_limit_error, read_mask
from .metrics.binarize import AUTHORS, binarize_probability
from .metrics.jf_core import evaluate_frame
from .metrics.jf_summary import summarize

PRED_FORMATS = ('auto', 'binary', 'prob', 'mvps')

_FORMAT_RULES = {
    'auto': 'a PNG whose maximum is <= 1: any non-zero pixel is foreground; '
    'otherwise >= 128, i.e. p >= 0.5 for round(255 p) maps',
    'binary': 'any non-zero pixel is foreground',
    'prob': '>= 128 is foreground; for round(255 p) maps: p >= 0.5',
    'mvps': 'any non-zero pixel is foreground, as the MVPS evaluation code; '
    'for round(255 p) maps: p > 1/510',
}


def describe_pred_format(pred_format: str) -> str:
    """The binarisation of a prediction format in words, e.g. ``'mvps (any
    non-zero pixel is foreground, ...)'``; printed and stored by
    ``tools/eval_masks.py``."""
    if pred_format not in PRED_FORMATS:
        raise ValueError(f'pred_format must be one of {PRED_FORMATS}, got '
                         f'{pred_format!r}')
    return f'{pred_format} ({_FORMAT_RULES[pred_format]})'


def binarize_prediction(pred: np.ndarray, pred_format: str = 'auto',
                        name: str = 'prediction') -> np.ndarray:
    """Turn a decoded 8-bit prediction into a bool mask.

    - ``'binary'``: any nonzero pixel is foreground (0/1, 0/255 masks).
    - ``'prob'``: a 0..255 probability map, foreground when ``>= 128``
      (probability >= 0.5 after ``round(255 * p)``): the DAVIS-style
      protocol.
    - ``'mvps'``: a ``round(255 * p)`` map (the PDNet authors' result PNGs,
      ``tools/test.py --out DIR --out-prob``) read as the MVPS evaluation
      code reads it: any nonzero pixel is foreground, i.e. ``p > 1/510``;
      the authors' protocol, the same as ``JFMetric(threshold='authors')``.
    - ``'auto'``: ``'binary'`` when the image's maximum is <= 1 (a 0/1
      mask, or an empty map), otherwise ``'prob'`` (0/255 masks and
      probability maps give the same result). A probability map whose
      every pixel is 0 or 1 (p < 1.5/255) would be read as a 0/1 mask:
      pass ``'prob'`` for such maps.

    Args:
        pred (np.ndarray): ``(H, W)`` uint8.
        pred_format (str): One of ``'auto'``, ``'binary'``, ``'prob'``,
            ``'mvps'``.
        name (str): Used in error messages.

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    if pred_format not in PRED_FORMATS:
        raise ValueError(f'pred_format must be one of {PRED_FORMATS}, got '
                         f'{pred_format!r}')
    if pred.dtype != np.uint8 or pred.ndim != 2:
        raise ValueError(f'{name}: expected an 8-bit single-channel mask, '
                         f'got {pred.dtype} {pred.shape}')
    if pred_format == 'auto':
        pred_format = 'binary' if pred.max() <= 1 else 'prob'
    if pred_format == 'binary':
        return pred > 0
    # round(255 p) maps: the rules of the two protocols, kept in one place
    return binarize_probability(pred, AUTHORS if pred_format == 'mvps'
                                else 0.5)


def read_prediction(path: str, pred_format: str = 'auto') -> np.ndarray:
    """Read a predicted mask PNG as bool.

    Palette PNGs (DAVIS-style results) give their indices, any index > 0
    being foreground whatever ``pred_format``. Grayscale PNGs are
    binarised by :func:`binarize_prediction`; RGB(A) PNGs too when their
    colour channels are equal (a gray map saved as colour), otherwise any
    colour other than black is foreground.

    Args:
        path (str): PNG file.
        pred_format (str): See :func:`binarize_prediction`.

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    from PIL import Image
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: prediction does not exist')
    # the size from the header first: PIL would raise (or decode) a
    # decompression bomb without naming the file
    with open(path, 'rb') as f:
        try:
            size = header_size(f)
        except (ValueError, struct.error, OSError):
            size = None  # PIL says why below
    if size is not None and pixel_limit_error(path, size):
        raise ValueError(pixel_limit_error(path, size))
    try:
        with Image.open(path) as img:
            mode = img.mode
            pred = np.asarray(img)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f'{path}: not a readable image ({e})') from e
    if mode == 'P':
        return pred > 0
    if mode in ('RGB', 'RGBA'):
        rgb = pred[..., :3]
        if not ((rgb == rgb[..., :1]).all()):
            return rgb.max(axis=2) > 0
        pred = rgb[..., 0]
    elif mode == 'LA':
        pred = pred[..., 0]
    elif mode == '1':
        return pred.astype(bool)
    elif mode != 'L':
        raise ValueError(f'{path}: expected an 8-bit mask PNG, got PIL '
                         f'mode {mode!r}')
    return binarize_prediction(np.ascontiguousarray(pred), pred_format, path)


def evaluate_folders(gt_root: str, pred_root: str,
                     sequences: Optional[List[str]] = None,
                     categories: Optional[Dict[str, str]] = None,
                     keep_first_last: bool = False,
                     pred_format: str = 'auto') -> dict:
    """Evaluate every annotated frame of ``gt_root`` against ``pred_root``.

    Annotated frames are the ``*.png`` of ``gt_root/<seq>`` sorted by name
    (``frame_idx`` = position, ``num_frames`` = count); predictions for
    frames without annotation are ignored.

    Args:
        gt_root (str): ``<seq>/<frame>.png`` annotations (any value > 0,
            e.g. any DAVIS object id, is foreground).
        pred_root (str): ``<seq>/<frame>.png`` predictions, one for every
            annotation (a missing one is an error naming the file).
        sequences (list[str], optional): Sequences to score; default every
            folder of ``gt_root``.
        categories (dict, optional): sequence -> scenario category.
        keep_first_last (bool): Keep the first and last annotated frames.
        pred_format (str): See :func:`binarize_prediction`.

    Returns:
        dict: :func:`summarize` output (fractions in [0, 1]) plus
        ``pred_format`` and ``binarisation`` (:func:`describe_pred_format`).
    """
    binarisation = describe_pred_format(pred_format)  # checks the name
    if not osp.isdir(gt_root):
        raise FileNotFoundError(f'{gt_root}: ground-truth folder not found')
    if not osp.isdir(pred_root):
        raise FileNotFoundError(f'{pred_root}: prediction folder not found')
    if sequences is None:
        sequences = sorted(d for d in os.listdir(gt_root)
                           if osp.isdir(osp.join(gt_root, d)))
    if not sequences:
        raise ValueError(f'{gt_root}: no sequence to evaluate')
    for seq in sequences:  # fail before any (slow) scoring
        if not osp.isdir(osp.join(gt_root, seq)):
            raise FileNotFoundError(
                f'{osp.join(gt_root, seq)}: sequence folder not found')
    frames = []
    for seq in sequences:
        seq_dir = osp.join(gt_root, seq)
        names = sorted(f for f in os.listdir(seq_dir) if f.endswith('.png'))
        if not names:
            raise ValueError(f'{seq_dir}: no annotation PNG')
        for idx, name in enumerate(names):
            gt = read_mask(osp.join(seq_dir, name)).astype(bool)
            pred_path = osp.join(pred_root, seq, name)
            pred = read_prediction(pred_path, pred_format)
            if pred.shape != gt.shape:
                raise ValueError(f'{pred_path}: size {pred.shape} differs '
                                 f'from the annotation {gt.shape}')
            frame = evaluate_frame(pred, gt)
            frame.update(seq_name=seq, frame_idx=idx, num_frames=len(names),
                         category=(categories or {}).get(seq))
            frames.append(frame)
    summary = summarize(frames, keep_first_last)
    summary.update(pred_format=pred_format, binarisation=binarisation)
    return summary
