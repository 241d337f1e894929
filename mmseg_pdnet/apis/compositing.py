# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Turn masks into what users want to see: overlays, alpha mattes,
transparent (BGRA) frames, background replacement, coloured part maps and
contact sheets."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..datasets.image_io import read_frame
from ..utils.file_types import VIDEO_SUFFIXES

# distinct colours (BGR) for the part maps, as in the paper's figure 8
PART_PALETTE = np.array([[60, 76, 231], [113, 204, 46], [219, 152, 52],
                         [15, 196, 241], [182, 89, 155], [34, 126, 230],
                         [156, 188, 26], [94, 73, 52]], np.float32)


def parse_background(spec: str):
    """``'blur'``, ``'#RRGGBB'``, an image or a video path -> background.

    A video (a :data:`~mmseg_pdnet.utils.file_types.VIDEO_SUFFIXES` name)
    is opened and its first frame decoded here, so that a bad clip fails
    before any work; its frames are streamed later
    (:class:`~.background_clip.BackgroundClip`).

    Returns:
        str | tuple | np.ndarray | BackgroundClip: ``'blur'``, a BGR
        colour, an image, or a clip.
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
    is_video = spec.lower().endswith(VIDEO_SUFFIXES)
    if not osp.isfile(spec):
        raise FileNotFoundError(f'{spec}: background '
                                f'{"video" if is_video else "image"} does '
                                'not exist')
    if is_video:
        from .background_clip import BackgroundClip  # it imports this
        return BackgroundClip(spec)
    try:  # the strict reader: truncated files, decompression bombs
        return read_frame(spec)
    except ValueError as e:
        raise ValueError(f'--background {e}') from None


def fit_background(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Scale an image to cover ``size`` and crop its centre (no stretch).

    The aspect ratio is kept: the image is scaled so that it covers the
    whole ``(H, W)`` frame, and what sticks out on the longer side is cut
    off equally on both ends (CSS ``object-fit: cover``).

    Args:
        image (np.ndarray): ``(h, w, 3)`` background image.
        size (tuple): Frame size ``(H, W)``.

    Returns:
        np.ndarray: ``(H, W, 3)`` background.
    """
    h, w = size
    ih, iw = image.shape[:2]
    if (ih, iw) == (h, w):
        return image
    scale = max(h / ih, w / iw)
    # at least the frame size, despite rounding
    sh, sw = max(h, round(ih * scale)), max(w, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (sw, sh), interpolation=interp)
    top, left = (sh - h) // 2, (sw - w) // 2
    return scaled[top:top + h, left:left + w]


def _alpha(mask_or_prob: np.ndarray) -> np.ndarray:
    a = mask_or_prob.astype(np.float32)
    return a[..., None] if a.ndim == 2 else a


def replace_background(frame: np.ndarray, alpha: np.ndarray,
                       background) -> np.ndarray:
    """Composite the portrait over a new background.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` BGR frame.
        alpha (np.ndarray): ``(H, W)`` foreground probability or 0/1 mask.
        background: output of :func:`parse_background`; an image of
            another size is fitted with :func:`fit_background` (pass one
            fitted already to save that work on every frame).

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
        bg = fit_background(background, (h, w))
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


def rgba(frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The frame with the foreground probability as its alpha channel.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` uint8 BGR frame.
        prob (np.ndarray): ``(H, W)`` probability (or 0/1 mask).

    Returns:
        np.ndarray: ``(H, W, 4)`` uint8 BGRA, alpha = round(255 * prob).
    """
    a = np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8)
    return np.dstack([frame, a])


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


def put_title(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` with a small title in its top-left corner.

    White text on a dark band, sized to the image width (readable on a
    480p panel, still drawn on tiny ones); the image size is unchanged.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        text (str): The title.

    Returns:
        np.ndarray: The titled copy.
    """
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(
        image, cv2.COLOR_GRAY2BGR)
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = float(np.clip(w / 480, 0.3, 1.0))
    thickness = 1 if scale < 0.8 else 2
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    pad = max(2, th // 3)
    band_h, band_w = min(h, th + base + 2 * pad), min(w, tw + 2 * pad)
    # a translucent band keeps the text readable on any background
    band = out[:band_h, :band_w]
    band[:] = (band * 0.4).astype(np.uint8)
    cv2.putText(out, text, (pad, pad + th), font, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)
    return out


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], path: str,
                  width: int = 240, labels: Optional[Sequence[str]] = None,
                  titles: Optional[Sequence[str]] = None) -> str:
    """Save rows of images (each row: frame, mask, parts, ...) as one PNG.

    Args:
        rows (Sequence[Sequence[np.ndarray]]): Images, row by row; each
            is scaled to ``width`` (aspect kept).
        path (str): The PNG to write.
        width (int): Width of one tile. Defaults to 240.
        labels (Sequence[str], optional): One label per row (e.g.
            ``'frame 37'``), drawn on its first tile.
        titles (Sequence[str], optional): Column titles (e.g. ``'mask'``),
            drawn on the other tiles of every row.

    Returns:
        str: ``path``.
    """
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f'{len(labels)} labels for {len(rows)} rows')
    lines: List[np.ndarray] = []
    for r, row in enumerate(rows):
        tiles = []
        for c, img in enumerate(row):
            h, w = img.shape[:2]
            tile = cv2.resize(img, (width, max(1, round(h * width / w))))
            tile = tile if tile.ndim == 3 else cv2.cvtColor(
                tile, cv2.COLOR_GRAY2BGR)
            if c == 0 and labels is not None:
                tile = put_title(tile, labels[r])
            elif c > 0 and titles is not None and c < len(titles):
                tile = put_title(tile, titles[c])
            tiles.append(tile)
        lines.append(np.hstack(tiles))
    widest = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, widest - line.shape[1]), (0, 0)))
             for line in lines]
    folder = osp.dirname(osp.abspath(path))
    try:  # a missing folder is created, as the video writers do
        os.makedirs(folder, exist_ok=True)
        ok = cv2.imwrite(path, np.vstack(lines))
    except (OSError, cv2.error) as e:
        raise OSError(f'{path}: could not write the contact sheet ({e})'
                      ) from None
    if not ok:
        raise OSError(f'{path}: could not write the contact sheet')
    return path


class ContactSheetSampler:
    """Keep about ``rows`` frames spread evenly over a whole stream.

    The stream's length need not be known (camera, partial decode): frames
    are kept at a stride that doubles whenever more than ``2 * rows`` are
    held, so at most ``2 * rows + 1`` rows are in memory and the kept
    indices always span the stream; :meth:`rows` then picks ``rows`` of
    them evenly. Rows are stored already scaled to the sheet's tile width.

    Args:
        rows (int): Rows of the sheet. Defaults to 8.
        width (int): Tile width the rows are scaled to. Defaults to 240.
    """

    def __init__(self, rows: int = 8, width: int = 240):
        if rows < 1:
            raise ValueError(f'rows must be >= 1, got {rows}')
        self.num_rows, self.width = rows, width
        self.stride = 1
        self._kept: List[Tuple[int, List[np.ndarray]]] = []

    def wants(self, index: int) -> bool:
        """Whether frame ``index`` would be kept (render it only then)."""
        return index % self.stride == 0

    def add(self, index: int, row: Sequence[np.ndarray]) -> None:
        """Offer frame ``index`` (increasing) and its row of images."""
        if not self.wants(index):
            return
        small = []
        for img in row:
            h, w = img.shape[:2]
            small.append(cv2.resize(img, (self.width,
                                          max(1, round(h * self.width / w))),
                                    interpolation=cv2.INTER_AREA))
        self._kept.append((index, small))
        if len(self._kept) > 2 * self.num_rows:
            self.stride *= 2
            self._kept = [k for k in self._kept if k[0] % self.stride == 0]

    def rows(self) -> Tuple[List[int], List[List[np.ndarray]]]:
        """The frame indices and rows of the sheet, evenly spread."""
        n = len(self._kept)
        if n <= self.num_rows:
            picked = list(range(n))
        else:
            picked = sorted({round(i) for i in np.linspace(
                0, n - 1, self.num_rows)})
        return ([self._kept[i][0] for i in picked],
                [self._kept[i][1] for i in picked])


def render(kind: str, frame: np.ndarray, mask: np.ndarray,
           prob: Optional[np.ndarray] = None, background=None) -> np.ndarray:
    """One output frame of ``--output-type``.

    ``mask``: white portrait on black; ``overlay``: tinted portrait with
    its outline; ``alpha``: the probability as grey levels; ``rgba``: the
    frame with the probability as alpha (``(H, W, 4)`` BGRA);
    ``background``: the portrait over ``background`` (a colour, ``'blur'``
    or an image, e.g. the current frame of a background video);
    ``side-by-side``: the input and the overlay next to each other, titled
    (twice the width).
    """
    if kind == 'side-by-side':
        return np.concatenate([put_title(frame, 'input'),
                               put_title(overlay(frame, mask), 'PDNet')],
                              axis=1)
    if kind == 'mask':
        return cv2.cvtColor(mask.astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR)
    if kind == 'overlay':
        return overlay(frame, mask)
    if kind == 'alpha':
        return alpha_matte(prob if prob is not None else mask)
    if kind == 'rgba':
        return rgba(frame, prob if prob is not None else mask)
    if kind == 'background':
        return replace_background(
            frame, prob if prob is not None else mask,
            background if background is not None else 'blur')
    raise ValueError(f'unknown output type {kind!r} (mask, overlay, alpha, '
                     'rgba, background, side-by-side)')
