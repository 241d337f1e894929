# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Decoders of the mask encodings used by COCO and Supervisely."""
import base64
import zlib
from typing import List, Sequence, Union

import cv2
import numpy as np


def coco_rle_counts(counts: Union[str, bytes]) -> List[int]:
    """Decode a compressed COCO RLE string into run lengths.

    COCO packs each run length in 5-bit groups (ASCII offset 48, bit 0x20 =
    more groups follow, bit 0x10 of the last group = sign); from the third
    run on, values are stored relative to the run two before.
    """
    if isinstance(counts, bytes):
        counts = counts.decode('ascii')
    runs, pos = [], 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            c = ord(counts[pos]) - 48
            value |= (c & 0x1f) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def decode_coco_segmentation(segm, height: int, width: int) -> np.ndarray:
    """Decode a COCO ``segmentation`` (polygons, RLE or compressed RLE).

    Returns:
        np.ndarray: ``(height, width)`` uint8 0/1 mask.
    """
    if isinstance(segm, list):  # polygons [[x0, y0, x1, y1, ...], ...]
        mask = np.zeros((height, width), np.uint8)
        polys = [np.round(np.asarray(p, np.float64).reshape(-1, 2)).astype(
            np.int32) for p in segm if len(p) >= 6]
        cv2.fillPoly(mask, polys, 1)
        return mask
    if not isinstance(segm, dict) or 'counts' not in segm:
        raise ValueError(f'unknown COCO segmentation format: {type(segm)}')
    h, w = segm.get('size', (height, width))
    counts = segm['counts']
    runs = counts if isinstance(counts, list) else coco_rle_counts(counts)
    if sum(runs) != h * w:
        raise ValueError(f'RLE covers {sum(runs)} pixels, expected {h * w}')
    flat = np.zeros(h * w, np.uint8)
    pos = 0
    for i, run in enumerate(runs):
        if i % 2:
            flat[pos:pos + run] = 1
        pos += run
    return flat.reshape(w, h).T.copy()  # COCO RLE is column-major


def decode_supervisely_bitmap(data: str, origin: Sequence[int], height: int,
                              width: int) -> np.ndarray:
    """Decode a Supervisely ``bitmap`` object (base64 zlib PNG at origin)."""
    png = zlib.decompress(base64.b64decode(data))
    patch = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if patch is None:
        raise ValueError('Supervisely bitmap is not a readable PNG')
    if patch.ndim == 3:
        patch = patch[..., 3] if patch.shape[2] == 4 else patch.max(axis=2)
    mask = np.zeros((height, width), np.uint8)
    x, y = int(origin[0]), int(origin[1])
    ph, pw = patch.shape
    h, w = min(ph, height - y), min(pw, width - x)
    mask[y:y + h, x:x + w] = patch[:h, :w] > 0
    return mask


def polygon_mask(exterior, interiors, height: int, width: int) -> np.ndarray:
    """Filled polygon with holes (Supervisely ``polygon``)."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(exterior)).astype(np.int32)], 1)
    for hole in interiors or []:
        cv2.fillPoly(mask, [np.round(np.asarray(hole)).astype(np.int32)], 0)
    return mask
