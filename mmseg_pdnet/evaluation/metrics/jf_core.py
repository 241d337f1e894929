# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""J (region) and F (boundary) measures with DAVIS / MVPS semantics.

Shared by :class:`JFMetric` and ``tools/eval_masks.py``. The definitions
follow REFERENCE.md section 4; docs/evaluation.md explains them and the one
deliberate difference from the public toolkit (Decay for long sequences).
"""
import math
import warnings
import zlib
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

BOUNDARY_TH = 0.008  # tolerance: fraction of the image diagonal
STATS = ('mean', 'recall', 'decay')


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J = |S and G| / |S or G|, 1 when both masks are empty.

    Args:
        pred (np.ndarray): ``(H, W)`` mask; any nonzero pixel is foreground.
        gt (np.ndarray): ``(H, W)`` mask; any nonzero pixel is foreground.

    Returns:
        float: J in [0, 1].
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a mask (DAVIS ``seg2bmap`` for equal sizes).

    A pixel is a boundary pixel when it differs from its east, south or
    south-east neighbour (outside the image counts as background); in the
    last row only the east neighbour is compared, in the last column only
    the south one, and the bottom-right pixel never is a boundary, so the
    image border itself never creates boundary pixels.

    Args:
        mask (np.ndarray): ``(H, W)`` mask.

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
    """Disk structuring element ``x^2 + y^2 <= r^2`` (uint8)."""
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def _within(bmap: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within Euclidean distance ``radius`` of a boundary pixel.

    Equal to dilating ``bmap`` with :func:`disk` (tested against it), but an
    exact Euclidean distance transform costs O(H W) whatever the radius.
    Squared distances are integers, so ``d <= r`` is decided with a margin
    far below the gap between sqrt(r^2) and sqrt(r^2 + 1).
    """
    dist = cv2.distanceTransform((~bmap).astype(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE)
    return dist <= radius + 1e-3


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
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth '
                         f'{gt.shape} differ in size')
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = np.count_nonzero(pred_b), np.count_nonzero(gt_b)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # (P, R) = (1, 0) or (0, 1): F = 0
    radius = boundary_tolerance(*gt.shape)
    precision = np.count_nonzero(pred_b & _within(gt_b, radius)) / n_pred
    recall = np.count_nonzero(gt_b & _within(pred_b, radius)) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def sequence_statistics(values: Sequence[float]) -> Dict[str, float]:
    """Mean, Recall and Decay of one sequence's per-frame values.

    Mean = nanmean; Recall = nanmean(values > 0.5) (strict); Decay: the
    frames are split into 4 overlapping bins at
    ``ids = round(linspace(1, N, 5) + 1e-10) - 1`` (bin i is
    ``values[ids[i] : ids[i+1] + 1]``) and Decay = mean(bin 0) - mean(bin 3).
    The public toolkit stores ``ids`` as uint8, which wraps for N >= 257;
    here they are int64, right for any N.

    Args:
        values (Sequence[float]): per-frame J or F, in frame order.

    Returns:
        dict[str, float]: ``mean``, ``recall``, ``decay`` (NaN when there
        is no value).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return dict(mean=math.nan, recall=math.nan, decay=math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN bins
        ids = (np.round(np.linspace(1, x.size, 5) + 1e-10) - 1).astype(
            np.int64)
        bins = [x[ids[i]:ids[i + 1] + 1] for i in range(4)]
        return dict(
            mean=float(np.nanmean(x)),
            recall=float(np.nanmean(x > 0.5)),
            decay=float(np.nanmean(bins[0]) - np.nanmean(bins[3])))


def error_map(pred: np.ndarray, gt: np.ndarray) -> Tuple[bytes, tuple]:
    """Compressed ``pred XOR gt`` map, for the temporal instability.

    Returns:
        tuple: zlib-compressed packed bits and the map's shape.
    """
    err = np.packbits(pred.astype(bool) ^ gt.astype(bool))
    return zlib.compress(err.tobytes(), 1), pred.shape


def _unpack(packed: Tuple[bytes, tuple]) -> np.ndarray:
    data, shape = packed
    bits = np.unpackbits(np.frombuffer(zlib.decompress(data), np.uint8))
    return bits[:int(np.prod(shape))].reshape(shape).astype(bool)


def temporal_instability(errors: Sequence[Tuple[bytes, tuple]],
                         gt_areas: Sequence[int]) -> float:
    """Flicker of a sequence's predictions relative to the ground truth.

    For consecutive annotated frames t-1, t, the pixels whose prediction
    changes differently from the ground truth are
    ``(P_t xor P_t-1) xor (G_t xor G_t-1) = E_t xor E_t-1`` with the error
    maps ``E = P xor G``. Their count, divided by the mean ground-truth
    area of the two frames (at least 1 pixel), is averaged over the pairs.
    0 means the masks change exactly as the ground truth does; flicker,
    lag and drift raise it. Lower is better.

    Args:
        errors (Sequence): :func:`error_map` of each frame, in order.
        gt_areas (Sequence[int]): foreground pixels of each GT frame.

    Returns:
        float: the instability (NaN for fewer than 2 frames).
    """
    if len(errors) < 2:
        return math.nan
    total, prev = 0.0, _unpack(errors[0])
    for t in range(1, len(errors)):
        cur = _unpack(errors[t])
        if cur.shape != prev.shape:
            raise ValueError(f'frame sizes change within a sequence: '
                             f'{prev.shape} -> {cur.shape}')
        area = max(1.0, (gt_areas[t] + gt_areas[t - 1]) / 2)
        total += np.count_nonzero(cur ^ prev) / area
        prev = cur
    return total / (len(errors) - 1)


def evaluate_frame(pred: np.ndarray, gt: np.ndarray) -> Dict[str, object]:
    """Everything the metrics need from one frame (no masks kept).

    Args:
        pred (np.ndarray): ``(H, W)`` binary prediction at GT size.
        gt (np.ndarray): ``(H, W)`` ground truth.

    Returns:
        dict: ``J``, ``F``, ``gt_area`` and the compressed ``error`` map.
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth '
                         f'{gt.shape} differ in size')
    return dict(J=region_similarity(pred, gt), F=contour_accuracy(pred, gt),
                gt_area=int(np.count_nonzero(gt)), error=error_map(pred, gt))
