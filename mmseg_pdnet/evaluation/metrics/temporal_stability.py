# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Temporal stability: do predicted masks change as the ground truth does?

None of the public video-segmentation toolkits measures flicker. For two
consecutive annotated frames t-1 and t (predictions P, ground truth G) the
pixels whose prediction change disagrees with the ground-truth change are

    D_t = (P_t xor P_t-1) xor (G_t xor G_t-1)

(flicker: the prediction changes where the ground truth does not; lag: the
ground truth changes and the prediction does not). It is measured against
the portrait's extent, IoU-style,

    d_t = |D_t| / |G_t or G_t-1 or D_t|   (0 when that is empty),

which lies in [0, 1] and needs no guard for a still or empty ground truth:
d_t = 0 when the prediction changes exactly as the ground truth; a still
prediction of a moving portrait gets 1 - IoU(G_t, G_t-1), the share of the
motion it missed; background flicker on an empty ground truth gets 1.
Normalising by the ground truth rather than by every mask keeps a huge
prediction (e.g. the whole frame) from diluting its own lag. The stability
of a sequence is ``1 - mean_t d_t`` over its pairs of consecutive frames
(higher is better). An error that stays the same from frame to frame
(D_t = E_t xor E_t-1 with E = P xor G) does not lower it: J and F measure
errors, stability measures how they change.

Frames of one clip may be evaluated on different ranks, so each frame's
binary prediction and ground truth are kept as zlib-compressed packed bits
(about 2 KB each for a 480p portrait instead of 400 KB of uint8) and the
pairs are formed after gathering.
"""
import math
import zlib
from typing import Sequence, Tuple

import numpy as np

PackedMask = Tuple[bytes, Tuple[int, int]]


def pack_mask(mask: np.ndarray) -> PackedMask:
    """Compress a binary ``(H, W)`` mask to packed, zlib-compressed bits."""
    bits = np.packbits(mask.astype(bool), axis=None)
    return zlib.compress(bits.tobytes(), 1), tuple(mask.shape)


def unpack_mask(packed: PackedMask) -> np.ndarray:
    """Inverse of :func:`pack_mask`: ``(H, W)`` bool mask."""
    data, shape = packed
    bits = np.frombuffer(zlib.decompress(data), np.uint8)
    count = int(np.prod(shape))
    return np.unpackbits(bits, count=count).reshape(shape).view(bool)


def change_disagreement(pred_prev: np.ndarray, pred: np.ndarray,
                        gt_prev: np.ndarray, gt: np.ndarray) -> float:
    """d_t of one pair of consecutive frames (see the module docstring).

    Args:
        pred_prev, pred, gt_prev, gt (np.ndarray): ``(H, W)`` bool masks.

    Returns:
        float: d_t in [0, 1].
    """
    if not pred_prev.shape == pred.shape == gt_prev.shape == gt.shape:
        raise ValueError(f'frame sizes change within a sequence: '
                         f'{pred_prev.shape} -> {pred.shape}')
    disagree = pred_prev ^ pred ^ gt_prev ^ gt
    extent = np.count_nonzero(gt_prev | gt | disagree)
    if extent == 0:
        return 0.0
    return np.count_nonzero(disagree) / extent


def temporal_stability(frame_idx: Sequence[int],
                       preds: Sequence[PackedMask],
                       gts: Sequence[PackedMask]) -> float:
    """Stability of one sequence: ``1 - mean d_t`` over consecutive pairs.

    Args:
        frame_idx (Sequence[int]): increasing annotated-frame indices; only
            frames whose indices differ by 1 form a pair (a gap in the
            evaluated frames never pairs distant frames).
        preds (Sequence[PackedMask]): :func:`pack_mask` of each prediction.
        gts (Sequence[PackedMask]): :func:`pack_mask` of each ground truth.

    Returns:
        float: stability in [0, 1]; NaN when there is no pair.
    """
    total, pairs = 0.0, 0
    prev = None
    for idx, pred, gt in zip(frame_idx, preds, gts):
        cur = (idx, unpack_mask(pred), unpack_mask(gt))
        if prev is not None and idx == prev[0] + 1:
            total += change_disagreement(prev[1], cur[1], prev[2], cur[2])
            pairs += 1
        prev = cur
    return 1.0 - total / pairs if pairs else math.nan
