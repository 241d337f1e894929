# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Fast checks of a dataset split's files before the first iteration.

A broken file otherwise surfaces only when its sample is loaded, deep in a
data loader worker. :func:`validate_data_list` reads the image headers of
every frame and mask of a split (sizes, no pixel decoding) and the last
bytes of JPEG/PNG files (truncation), and raises one :class:`DatasetError`
whose one-line message names the file and the problem.

It also decodes a few masks (the first of every clip, and every 16-bit
PNG mask, whose values may exceed 255): values that cannot be a mask are
an error before the first iteration, and masks with values other than
0/255, 0/1 or palette ids give ONE :class:`MaskValueWarning` per split,
with the value histogram (``tools/misc/check_dataset.py`` lists every
such mask).
"""
import os.path as osp
import struct
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset

from .image_io import (_PNG_SIGNATURE, DatasetError, _decode_mask,
                       _jpeg_size, _pil_size, header_size, pixel_limit_error)

__all__ = [
    'DatasetError', 'MaskValueWarning', 'image_size', 'validate_data_list',
    'judge_mask', 'value_histogram', 'SOFT_MASK_USE'
]

_TAIL_BYTES = 64
# kept importable from here (they lived in this module before image_io)
_ = (_jpeg_size, _pil_size)

#: how training and testing read masks that are not 0/255, 0/1 or ids
SOFT_MASK_USE = ('training uses them as fractional targets (value / 255), '
                 'testing counts every value > 0 as foreground')


class MaskValueWarning(UserWarning):
    """Masks of a split hold values other than 0/255, 0/1 or palette ids
    (usable, but probably not what the dataset meant)."""


def value_histogram(values: np.ndarray, counts: np.ndarray,
                    top: int = 6) -> str:
    """``'0: 1200 (60.0%), 128: 300 (15.0%), ...'``: the ``top`` most
    frequent values in value order, the others summed.

    Args:
        values (np.ndarray): The distinct values, sorted.
        counts (np.ndarray): How many pixels hold each.
        top (int): Values listed one by one. Defaults to 6.

    Returns:
        str: The histogram on one line.
    """
    total = counts.sum()
    keep = set(values[np.argsort(-counts, kind='stable')[:top]].tolist())
    parts = [f'{v}: {c} ({c / total:.1%})'
             for v, c in zip(values.tolist(), counts.tolist()) if v in keep]
    rest = [c for v, c in zip(values.tolist(), counts.tolist())
            if v not in keep]
    if rest:
        parts.append(f'{len(rest)} other values: {sum(rest)} '
                     f'({sum(rest) / total:.1%})')
    return ', '.join(parts)


def judge_mask(path: str) -> Tuple[Tuple[int, int], Optional[str],
                                   Optional[tuple]]:
    """Read a mask and judge its values (``check_dataset`` and the split
    validation share this).

    Args:
        path (str): Mask file.

    Returns:
        tuple: ``(shape, problem, values)``: the ``(H, W)`` size; an error
        string for values that cannot be a mask, else None; the
        ``(values, counts)`` histogram when the values are not 0/255, 0/1
        or palette ids (usable as soft targets), else None.

    Raises:
        FileNotFoundError / ValueError: the file cannot be read (naming
            it).
    """
    mask, is_ids = _decode_mask(path)
    if is_ids:  # DAVIS palette: any object id is foreground
        return mask.shape[:2], None, None
    if mask.dtype.kind != 'u':
        return mask.shape[:2], (f'{path}: mask pixels are {mask.dtype}; '
                                'masks need 8-bit values (0/255, 0/1)'), None
    if mask.dtype == np.uint8:  # bincount: no sort of every pixel
        counts = np.bincount(mask.ravel(), minlength=1)
        values = np.flatnonzero(counts)
        counts = counts[values]
    else:
        values, counts = np.unique(mask, return_counts=True)
    if values[-1] > 255:
        return mask.shape[:2], (
            f'{path}: mask value {values[-1]} is above 255 ({mask.dtype} '
            'image): not a 0/255, 0/1 or palette mask (training would stop '
            f'at this file); values {value_histogram(values, counts)}'), None
    if set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}:
        return mask.shape[:2], None, None
    return mask.shape[:2], None, (values, counts)


def _read_header(path: str) -> Tuple[int, int, Optional[int]]:
    """``(H, W, PNG bit depth or None)`` of an image file (see
    :func:`image_size`)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(25)
            f.seek(0)
            h, w = header_size(f)
            depth = head[24] if head.startswith(_PNG_SIGNATURE) else None
            suffix = osp.splitext(path)[1].lower()
            if suffix in ('.jpg', '.jpeg', '.png'):
                f.seek(0, 2)
                f.seek(max(f.tell() - _TAIL_BYTES, 0))
                tail = f.read()
                # the same test as image_io's loader, on the last bytes
                if suffix == '.png' and b'IEND' not in tail[-32:]:
                    raise ValueError('truncated PNG (no IEND chunk)')
                if suffix != '.png' and \
                        tail.rstrip(b'\x00')[-2:] != b'\xff\xd9':
                    raise ValueError('truncated JPEG (no end-of-image '
                                     'marker)')
    except FileNotFoundError:
        raise DatasetError(f'{path}: file does not exist') from None
    except IsADirectoryError:
        raise DatasetError(f'{path}: a folder, not an image file') from None
    except (OSError, ValueError, struct.error) as e:
        raise DatasetError(f'{path}: {e}') from None
    if h == 0 or w == 0:
        raise DatasetError(f'{path}: image header gives an empty size '
                           f'{(h, w)}')
    problem = pixel_limit_error(path, (h, w))
    if problem:
        raise DatasetError(problem)
    return h, w, depth


def image_size(path: str) -> Tuple[int, int]:
    """Size of an image from its header, without decoding pixels.

    PNG and JPEG headers are parsed directly (the format is taken from the
    file's first bytes, as the decoders do); other formats go through a
    lazy ``PIL.Image.open``. JPEG and PNG files named ``.jpg``/``.jpeg``/
    ``.png`` must also end with their end marker, which
    :func:`~mmseg_pdnet.datasets.image_io.read_frame` checks at load time
    (a truncated file would fail there). Images above
    :data:`~mmseg_pdnet.datasets.image_io.MAX_IMAGE_PIXELS` are refused,
    as the loaders refuse them.

    Args:
        path (str): Image file.

    Returns:
        tuple[int, int]: ``(H, W)``.

    Raises:
        DatasetError: ``<path>: <problem>`` when the file is missing, empty,
            truncated, too large or its header cannot be read.
    """
    return _read_header(path)[:2]


def _samples(data: Union[BaseDataset, Sequence[dict]]) -> Iterable[dict]:
    if isinstance(data, BaseDataset):
        data.full_init()
        # BaseDataset.get_data_info: subclasses may draw random references
        return (BaseDataset.get_data_info(data, i) for i in range(len(data)))
    return data


def _mask_group(info: dict, mask: str) -> str:
    """The clip of a mask (its sequence, or its folder for still images):
    one mask per group is decoded."""
    return info.get('seq_name') or osp.dirname(mask)


def validate_data_list(data: Union[BaseDataset, Sequence[dict]]) -> int:
    """Check every frame and mask of a split before training or testing.

    Fast: per file one header read and one read of its last bytes, each
    file once (references are frames of the split too). Checks that each
    file exists, is not empty or truncated, has a readable header and at
    most :data:`~mmseg_pdnet.datasets.image_io.MAX_IMAGE_PIXELS` pixels,
    that each mask has the size of its frame and that each reference frame
    has the size of its target (they are concatenated). The first mask of
    every clip and every 16-bit PNG mask are decoded: values above 255 (or
    not integers) are a problem; values other than 0/255, 0/1 or palette
    ids give one :class:`MaskValueWarning` for the whole split, with the
    first such mask's value histogram.

    Args:
        data (BaseDataset | Sequence[dict]): A dataset, or its data list:
            dicts with ``img_path``, ``seg_map_path`` and optionally
            ``ref_img_paths``, ``ref_seg_map_paths`` and ``seq_name``.

    Returns:
        int: The number of files checked.

    Raises:
        DatasetError: one line naming the first bad file and its problem,
            and how many more problems there are.
    """
    sizes: Dict[str, Tuple[int, int]] = {}
    depths: Dict[str, Optional[int]] = {}
    problems: List[str] = []
    reported = set()
    to_decode: Dict[str, None] = {}  # ordered set of masks to decode
    sampled_groups = set()

    def size_of(path):
        if path not in sizes:
            try:
                h, w, depths[path] = _read_header(path)
                sizes[path] = (h, w)
            except DatasetError as e:
                sizes[path] = None
                problems.append(str(e))
        return sizes[path]

    def report(path, problem):
        if path not in reported:  # a shared reference is reported once
            reported.add(path)
            problems.append(f'{path}: {problem}')

    for info in _samples(data):
        img, ann = info['img_path'], info.get('seg_map_path')
        refs = list(zip(info.get('ref_img_paths') or [],
                        info.get('ref_seg_map_paths')
                        or [None] * len(info.get('ref_img_paths') or [])))
        img_size = size_of(img)
        for frame, mask in [(img, ann)] + refs:
            frame_size = size_of(frame)
            if frame != img and None not in (frame_size, img_size) \
                    and frame_size != img_size:
                report(frame, f'reference frame size {frame_size} differs '
                       f'from its target frame {img} {img_size}')
            if mask is None:
                continue
            mask_size = size_of(mask)
            if mask_size is None:
                continue
            group = _mask_group(info, mask)
            if group not in sampled_groups or depths.get(mask) == 16:
                sampled_groups.add(group)
                to_decode[mask] = None
            if frame_size is not None and mask_size != frame_size:
                report(mask, f'mask size {mask_size} differs from its '
                       f'frame {frame} {frame_size}')
    soft = []  # (path, histogram) of the decoded masks that are not binary
    for mask in to_decode:
        try:
            _, problem, hist = judge_mask(mask)
        except (OSError, ValueError) as e:
            problem, hist = str(e), None
        if problem:
            report(mask, problem.split(': ', 1)[1]
                   if problem.startswith(f'{mask}: ') else problem)
        elif hist is not None:
            soft.append((mask, hist))
    if problems:
        more = len(problems) - 1
        raise DatasetError(
            problems[0] +
            (f' (and {more} more problem(s) in this split; '
             'tools/misc/check_dataset.py checks a whole dataset)'
             if more else ''))
    if soft:
        path, hist = soft[0]
        warnings.warn(
            f'{path}: mask values {value_histogram(*hist)}; {len(soft)} of '
            f'the {len(to_decode)} masks decoded (the first of each clip) '
            'hold values other than 0/255, 0/1 or palette ids: '
            f'{SOFT_MASK_USE}; tools/misc/check_dataset.py lists every such '
            'mask', MaskValueWarning, stacklevel=2)
    return len(sizes)
