# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Turn masks into what users want to see: overlays, alpha mattes,
background replacement, coloured part maps and contact sheets."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np

# distinct colours (BGR) for the part maps, as in the paper's figure 8
PART_PALETTE = np.array([[60, 76, 231], [113, 204, 46], [219, 152, 52],
                         [15, 196, 241], [182, 89, 155], [34, 126, 230],
                         [156, 188, 26], [94, 73, 52]], np.float32)


def parse_background(spec: str):
    """``'blur'``, ``'#RRGGBB'`` or an image path -> background spec.

    Returns:
        str | tuple | np.ndarray: ``'blur'``, a BGR colour, or an image.
    """
    if spec == 'blur':
        return 'blur'
    if spec.startswith('#'):
        hex_ = spec[1:]
        if len(hex_) != 6 or any(c not in '0123456789abcdefABCDEF'
                                 for c in hex_):
            raise ValueError(f'--background {spec!r}: expected #RRGGBB')
        r, g, b = (int(hex_[i:i + 2], 16) for i in (0, 2, 4))
        return (b, g, r)
    if not osp.isfile(spec):
        raise FileNotFoundError(f'{spec}: background image does not exist')
    img = cv2.imread(spec, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{spec}: background is not a readable image')
    return img


def _alpha(mask_or_prob: np.ndarray) -> np.ndarray:
    a = mask_or_prob.astype(np.float32)
    return a[..., None] if a.ndim == 2 else a


def replace_background(frame: np.ndarray, alpha: np.ndarray,
                       background) -> np.ndarray:
    """Composite the portrait over a new background.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` BGR frame.
        alpha (np.ndarray): ``(H, W)`` foreground probability or 0/1 mask.
        background: output of :func:`parse_background`.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 composite.
    """
    h, w = frame.shape[:2]
    if isinstance(background, str) and background == 'blur':
        k = max(3, (min(h, w) // 20) | 1)
        bg = cv2.GaussianBlur(frame, (k, k), 0)
    elif isinstance(background, tuple):
        bg = np.empty_like(frame)
        bg[:] = background
    else:
        bg = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
    a = _alpha(alpha)
    return (frame * a + bg * (1 - a)).round().astype(np.uint8)


def overlay(frame: np.ndarray, mask: np.ndarray,
            color=(0, 200, 0), opacity: float = 0.5) -> np.ndarray:
    """Tint the portrait and draw its outline."""
    out = frame.copy()
    m = mask.astype(bool)
    out[m] = (out[m] * (1 - opacity) + np.array(color) * opacity).astype(
        np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


def alpha_matte(prob: np.ndarray) -> np.ndarray:
    """Probability as a 3-channel 0..255 image."""
    a = np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8)
    return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)


def colour_parts(parts: np.ndarray, size) -> np.ndarray:
    """Colour part maps R_t^k: hue = argmax part, brightness = strength.

    Args:
        parts (np.ndarray): ``(p, h, w)`` part masks (saliency-gated).
        size (tuple): output ``(H, W)``.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 BGR.
    """
    h, w = size
    up = np.stack([cv2.resize(p.astype(np.float32), (w, h),
                              interpolation=cv2.INTER_LINEAR) for p in parts])
    label = up.argmax(0)
    strength = np.clip(up.sum(0), 0, 1)[..., None]
    colours = PART_PALETTE[label % len(PART_PALETTE)]
    return (colours * strength).astype(np.uint8)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], path: str,
                  width: int = 240) -> str:
    """Save rows of images (each row: frame, mask, parts, ...) as one PNG."""
    lines: List[np.ndarray] = []
    for row in rows:
        tiles = []
        for img in row:
            h, w = img.shape[:2]
            tile = cv2.resize(img, (width, max(1, round(h * width / w))))
            tiles.append(tile if tile.ndim == 3 else
                         cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR))
        lines.append(np.hstack(tiles))
    widest = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, widest - line.shape[1]), (0, 0)))
             for line in lines]
    if not cv2.imwrite(path, np.vstack(lines)):
        raise OSError(f'{path}: could not write the contact sheet')
    return path


def render(kind: str, frame: np.ndarray, mask: np.ndarray,
           prob: Optional[np.ndarray] = None, background=None) -> np.ndarray:
    """One output frame of ``--output-type mask|overlay|alpha|background``."""
    if kind == 'mask':
        return cv2.cvtColor(mask.astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR)
    if kind == 'overlay':
        return overlay(frame, mask)
    if kind == 'alpha':
        return alpha_matte(prob if prob is not None else mask)
    if kind == 'background':
        return replace_background(
            frame, prob if prob is not None else mask,
            background if background is not None else 'blur')
    raise ValueError(f'unknown output type {kind!r} (mask, overlay, alpha, '
                     'background)')
