# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""J (region) and F (boundary) measures with DAVIS / MVPS semantics.

Shared by :class:`JFMetric` and ``tools/eval_masks.py``. The definitions
follow the DAVIS and MVPS evaluation code; docs/evaluation.md explains them
and the one
deliberate difference from the public toolkit (Decay for long sequences).
"""
import math
import warnings
from typing import Dict, Sequence

import cv2
import numpy as np

from .temporal_stability import pack_mask

BOUNDARY_TH = 0.008  # boundary tolerance: fraction of the image diagonal
STATS = ('mean', 'recall', 'decay')


def _check_same_size(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth '
                         f'{gt.shape} must be 2-D masks of the same size')


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J = |S and G| / |S or G|, 1 when both masks are empty.

    Args:
        pred (np.ndarray): ``(H, W)`` mask; any nonzero pixel is foreground.
        gt (np.ndarray): ``(H, W)`` mask; any nonzero pixel is foreground.

    Returns:
        float: J in [0, 1].
    """
    _check_same_size(pred, gt)
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a mask (DAVIS ``seg2bmap`` at the mask's size).

    A pixel is a boundary pixel when it differs from its east, south or
    south-east neighbour (outside the image counts as background); in the
    last row only the east neighbour is compared, in the last column only
    the south one, and the bottom-right pixel never is a boundary, so the
    image border itself never creates boundary pixels. Consequently the
    boundary lies outside the object on its top / left side and inside on
    its bottom / right side, as in DAVIS.

    Args:
        mask (np.ndarray): ``(H, W)`` mask; any nonzero pixel is foreground.

    Returns:
        np.ndarray: ``(H, W)`` bool boundary map.
    """
    seg = mask.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def boundary_tolerance(height: int, width: int) -> int:
    """Disk radius r = ceil(0.008 * diagonal): 6 at 480x480, 8 at 480x854."""
    return int(math.ceil(BOUNDARY_TH * math.hypot(height, width)))


def disk(radius: int) -> np.ndarray:
    """Disk structuring element ``x^2 + y^2 <= r^2``.

    Returns:
        np.ndarray: ``(2r + 1, 2r + 1)`` uint8 kernel.
    """
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a boundary map with :func:`disk` (OpenCV, zero outside)."""
    bmap = np.ascontiguousarray(bmap)
    return cv2.dilate(bmap.view(np.uint8), disk(radius)).view(bool)


def contour_accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    """F: boundary F-measure with tolerance :func:`boundary_tolerance`.

    P = |Sb and dil(Gb)| / |Sb|, R = |Gb and dil(Sb)| / |Gb|; empty
    boundaries: Sb empty and Gb not -> P=1, R=0; Gb empty and Sb not ->
    P=0, R=1; both empty -> P=R=1. F = 2PR / (P + R), 0 when P + R = 0.

    Args:
        pred (np.ndarray): ``(H, W)`` mask.
        gt (np.ndarray): ``(H, W)`` mask of the same size.

    Returns:
        float: F in [0, 1].
    """
    _check_same_size(pred, gt)
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = np.count_nonzero(pred_b), np.count_nonzero(gt_b)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # (P, R) = (1, 0) or (0, 1): F = 0
    radius = boundary_tolerance(*gt.shape)
    # Only dilated values at boundary pixels are read, and every boundary
    # pixel lies in the boxes' union, so dilating that crop (zero outside,
    # like the image border) is exact, and cheaper for compact outlines.
    either = pred_b | gt_b
    rows = np.flatnonzero(either.any(axis=1))
    cols = np.flatnonzero(either.any(axis=0))
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    pred_b, gt_b = pred_b[box], gt_b[box]
    precision = np.count_nonzero(pred_b & dilate(gt_b, radius)) / n_pred
    recall = np.count_nonzero(gt_b & dilate(pred_b, radius)) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def decay_bin_ids(num: int) -> np.ndarray:
    """Edges of the 4 Decay bins: ``round(linspace(1, N, 5) + 1e-10) - 1``.

    The public toolkit casts these to uint8, so they wrap for N >= 257
    (e.g. N = 300 gives a last edge of 43 instead of 299 and an empty last
    bin); int64 is right for any N.

    Args:
        num (int): Number of frames N >= 1.

    Returns:
        np.ndarray: 5 int64 frame indices (bin i is ``[ids[i], ids[i+1]]``,
        inclusive, so adjacent bins share a frame).
    """
    return (np.round(np.linspace(1, num, 5) + 1e-10) - 1).astype(np.int64)


def sequence_statistics(values: Sequence[float]) -> Dict[str, float]:
    """Mean, Recall and Decay of one sequence's per-frame values.

    Mean = nanmean; Recall = nanmean(values > 0.5) (strict); Decay =
    mean(bin 0) - mean(bin 3) with the bins of :func:`decay_bin_ids`.

    Args:
        values (Sequence[float]): per-frame J or F, in frame order.

    Returns:
        dict[str, float]: ``mean``, ``recall``, ``decay``; all NaN when
        there is no value.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return dict(mean=math.nan, recall=math.nan, decay=math.nan)
    ids = decay_bin_ids(x.size)
    bins = [x[ids[i]:ids[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN bins
        return dict(
            mean=float(np.nanmean(x)),
            recall=float(np.nanmean(x > 0.5)),
            decay=float(np.nanmean(bins[0]) - np.nanmean(bins[3])))


def evaluate_frame(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Everything the summary needs from one frame.

    Args:
        pred (np.ndarray): ``(H, W)`` binary prediction at the GT's size
            (any nonzero pixel is foreground).
        gt (np.ndarray): ``(H, W)`` ground truth (any nonzero pixel is
            foreground).

    Returns:
        dict: ``J``, ``F`` (floats) and ``pred`` / ``gt``, the masks packed
        by :func:`pack_mask` for the temporal stability; small and
        picklable, so per-frame results can be gathered across ranks.
    """
    _check_same_size(pred, gt)
    pred, gt = pred.astype(bool), gt.astype(bool)
    return dict(J=region_similarity(pred, gt), F=contour_accuracy(pred, gt),
                pred=pack_mask(pred), gt=pack_mask(gt))
