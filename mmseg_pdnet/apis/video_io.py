# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Frame sources and writers for video inference (OpenCV based).

Sources stream frames one at a time (never the whole video in memory);
writers write to a temporary name and move it into place only on
success, so a failed run never leaves a half-written file that looks
complete.
"""
import os
import os.path as osp
import shutil
from typing import Iterable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ..datasets.image_io import read_frame

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
FrameSource = Union[str, int, Iterable[np.ndarray]]


def as_bgr_frame(frame: np.ndarray, index: int) -> np.ndarray:
    """Check one frame and convert grayscale / BGRA to 3-channel BGR."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f'frame {index}: expected uint8 pixels, got '
                         f'{frame.dtype}')
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f'frame {index}: expected an (H, W, 3) image, got '
                         f'shape {frame.shape}')
    return frame


def _capture_frames(cap: cv2.VideoCapture, name: str) -> Iterator[np.ndarray]:
    count = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count += 1
            yield frame
    finally:
        cap.release()
    if count == 0:
        raise ValueError(f'{name}: no frame could be read (empty or '
                         'unsupported video)')


def open_source(source: FrameSource) -> Tuple[Iterator[np.ndarray],
                                              Optional[int], float]:
    """Open a video file, a folder of frames, a camera or an iterable.

    Args:
        source: a video file path, a folder of images (sorted by name),
            a camera index (int), or any iterable of ``(H, W, 3)`` BGR
            uint8 arrays.

    Returns:
        tuple: a frame iterator, the number of frames when known, and the
        frame rate (25 when unknown).

    Raises:
        FileNotFoundError / ValueError: with the path or camera and the
        problem (missing, unreadable, no frame).
    """
    if isinstance(source, int):
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            raise ValueError(f'camera {source}: could not be opened (no such '
                             'device?)')
        return _capture_frames(cap, f'camera {source}'), None, \
            cap.get(cv2.CAP_PROP_FPS) or 25.0
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        if osp.isdir(path):
            names = sorted(f for f in os.listdir(path)
                           if f.lower().endswith(IMAGE_SUFFIXES))
            if not names:
                raise ValueError(f'{path}: folder holds no image frame')
            return (read_frame(osp.join(path, n)) for n in names), \
                len(names), 25.0
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: video does not exist')
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise ValueError(f'{path}: not a readable video')
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        return _capture_frames(cap, path), total, \
            cap.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        iterator = iter(source)
    except TypeError:
        raise TypeError('source must be a path, a camera index or an '
                        f'iterable of frames, got {type(source).__name__}')
    return iterator, (len(source) if hasattr(source, '__len__') else None), \
        25.0


class AtomicVideoWriter:
    """MP4 (``mp4v``) or PNG-sequence writer that appears only on success.

    Frames go to ``<out>.partial...`` and :meth:`close` moves them to
    ``out``; :meth:`abort` deletes the partial output.

    Args:
        out (str): ``*.mp4`` file, or a folder for a PNG sequence
            (``png=True``).
        fps (float): Frame rate of the MP4.
        png (bool): Write ``out/00000.png, ...`` instead of an MP4.
    """

    def __init__(self, out: str, fps: float = 25.0, png: bool = False):
        self.out, self.fps, self.png = out, fps, png
        parent = osp.dirname(osp.abspath(out))
        os.makedirs(parent, exist_ok=True)
        stem, ext = osp.splitext(osp.basename(out))
        self.tmp = osp.join(parent, f'.{stem}.partial{"" if png else ext}')
        self._writer = None
        self.count = 0
        if png:
            shutil.rmtree(self.tmp, ignore_errors=True)
            os.makedirs(self.tmp)
        elif ext.lower() not in ('.mp4', '.avi', '.mov', '.mkv'):
            raise ValueError(f'{out}: video output needs a .mp4 name (or use '
                             'a PNG sequence)')

    def write(self, frame: np.ndarray) -> None:
        if self.png:
            path = osp.join(self.tmp, f'{self.count:05d}.png')
            if not cv2.imwrite(path, frame):
                raise OSError(f'{path}: could not write frame')
        else:
            if self._writer is None:
                h, w = frame.shape[:2]
                self._writer = cv2.VideoWriter(
                    self.tmp, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                    (w, h))
                if not self._writer.isOpened():
                    raise OSError(f'{self.out}: could not open an MP4 writer')
            self._writer.write(frame)
        self.count += 1

    def close(self) -> str:
        """Finish and move the output into place; returns its path."""
        if self._writer is not None:
            self._writer.release()
        if self.count == 0:
            self.abort()
            raise ValueError(f'{self.out}: no frame was written')
        if osp.isdir(self.out) and self.png:
            shutil.rmtree(self.out)
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        """Delete the partial output."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if osp.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif osp.exists(self.tmp):
            os.remove(self.tmp)
