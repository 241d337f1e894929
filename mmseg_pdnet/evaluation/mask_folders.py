# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Score result PNG folders ``<seq>/<frame>.png`` against annotations."""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from ..datasets.image_io import read_mask
from .metrics.jf_core import evaluate_frame
from .metrics.jf_summary import summarize


def read_prediction(path: str) -> np.ndarray:
    """Read a predicted mask as bool.

    0/1 PNGs (maximum value <= 1) are taken as they are; anything else is
    a 0..255 map (0/255 masks or probability maps) thresholded at 0.5,
    i.e. ``>= 128``. Colour PNGs use their first channel.
    """
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: prediction does not exist')
    pred = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if pred is None:
        raise ValueError(f'{path}: not a readable image')
    if pred.ndim == 3:
        pred = pred[..., 0]
    if pred.dtype != np.uint8:
        raise ValueError(f'{path}: expected an 8-bit PNG, got {pred.dtype}')
    return pred >= (1 if pred.max() <= 1 else 128)


def evaluate_folders(gt_root: str, pred_root: str,
                     sequences: Optional[List[str]] = None,
                     categories: Optional[Dict[str, str]] = None,
                     keep_first_last: bool = False) -> dict:
    """Evaluate every annotated frame of ``gt_root`` against ``pred_root``.

    Args:
        gt_root (str): ``<seq>/<frame>.png`` annotations (any id > 0 is
            foreground).
        pred_root (str): ``<seq>/<frame>.png`` predictions, one for every
            annotation (a missing one is an error, never skipped).
        sequences (list[str], optional): Sequences to score; default all.
        categories (dict, optional): sequence -> category.
        keep_first_last (bool): Keep the first and last annotated frames.

    Returns:
        dict: :func:`summarize` output (fractions in [0, 1]).
    """
    if not osp.isdir(gt_root):
        raise FileNotFoundError(f'{gt_root}: ground-truth folder not found')
    if sequences is None:
        sequences = sorted(d for d in os.listdir(gt_root)
                           if osp.isdir(osp.join(gt_root, d)))
    if not sequences:
        raise ValueError(f'{gt_root}: no sequence to evaluate')
    frames = []
    for seq in sequences:
        seq_dir = osp.join(gt_root, seq)
        if not osp.isdir(seq_dir):
            raise FileNotFoundError(f'{seq_dir}: sequence folder not found')
        names = sorted(f for f in os.listdir(seq_dir) if f.endswith('.png'))
        if not names:
            raise ValueError(f'{seq_dir}: no annotation PNG')
        for idx, name in enumerate(names):
            gt = read_mask(osp.join(seq_dir, name)).astype(bool)
            pred_path = osp.join(pred_root, seq, name)
            pred = read_prediction(pred_path)
            if pred.shape != gt.shape:
                raise ValueError(f'{pred_path}: size {pred.shape} differs '
                                 f'from the annotation {gt.shape}')
            frame = evaluate_frame(pred, gt)
            frame.update(seq_name=seq, frame_idx=idx,
                         category=(categories or {}).get(seq))
            frames.append(frame)
    return summarize(frames, keep_first_last)
