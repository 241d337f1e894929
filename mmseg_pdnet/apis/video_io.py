# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Frame sources and writers for video inference (OpenCV based).

Sources stream frames one at a time (never the whole video in memory);
writers write to a temporary name and move it into place only on
success, so a failed run never leaves a half-written file that looks
complete. Nothing is dropped or resized silently: a video that decodes
fewer frames than its container declares raises
:class:`IncompleteVideoError` (or warns, with ``allow_partial=True``), and
MP4 frames of odd size are padded to even size with a
:class:`VideoIOWarning` stating both sizes.
"""
import os
import os.path as osp
import shutil
import warnings
from typing import Iterable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ..datasets.image_io import read_frame

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
FrameSource = Union[str, int, Iterable[np.ndarray]]


class VideoIOWarning(UserWarning):
    """A video was read or written other than as is (partial decode,
    padded frames); the message states what and why."""


class IncompleteVideoError(ValueError):
    """A video decoded fewer frames than its container declares.

    Attributes:
        path (str): The video.
        decoded (int): Frames decoded (all were yielded before the error).
        declared (int): Frames the container declares.
    """

    def __init__(self, path: str, decoded: int, declared: int):
        self.path, self.decoded, self.declared = path, decoded, declared
        super().__init__(
            f'{path}: only {decoded} of {declared} frames could be decoded '
            f'(the container declares {declared}; the file is truncated or '
            'damaged)')


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


def _capture_frames(cap: cv2.VideoCapture, name: str,
                    declared: Optional[int] = None,
                    allow_partial: bool = False) -> Iterator[np.ndarray]:
    """Yield the frames of ``cap``; at the end compare their number with
    the ``declared`` count (checked only when the stream is read to its
    end, not when the consumer stops early)."""
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
    if declared and count < declared:
        err = IncompleteVideoError(name, count, declared)
        if not allow_partial:
            raise err
        warnings.warn(f'{err}; keeping the {count} decoded frames',
                      VideoIOWarning)


def _folder_frames(folder: str, names: list) -> Iterator[np.ndarray]:
    """Frames of a folder; one of another size is an error naming it."""
    first, size = None, None
    for name in names:
        path = osp.join(folder, name)
        frame = read_frame(path)
        if size is None:
            first, size = path, frame.shape[:2]
        elif frame.shape[:2] != size:
            raise ValueError(f'{path}: frame size {frame.shape[:2]} differs '
                             f'from the first frame {first} {size} (all '
                             'frames of a video need one size)')
        yield frame


def open_source(source: FrameSource, allow_partial: bool = False
                ) -> Tuple[Iterator[np.ndarray], Optional[int], float]:
    """Open a video file, a folder of frames, a camera or an iterable.

    Args:
        source: a video file path, a folder of images (sorted by name),
            a camera index (int), or any iterable of ``(H, W, 3)`` BGR
            uint8 arrays.
        allow_partial (bool): When a video file decodes fewer frames than
            its container declares (``CAP_PROP_FRAME_COUNT``), warn
            (:class:`VideoIOWarning`) instead of raising
            :class:`IncompleteVideoError`. Either happens after the last
            decoded frame was yielded. Defaults to False.

    Returns:
        tuple: a frame iterator, the number of frames when known (for a
        video file, the declared count), and the frame rate (25 when
        unknown).

    Raises:
        FileNotFoundError / ValueError: with the path or camera and the
        problem (missing, unreadable, no frame, a folder frame whose size
        differs from the first, fewer frames than declared).
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
            return _folder_frames(path, names), len(names), 25.0
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: video does not exist')
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise ValueError(f'{path}: not a readable video')
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        return _capture_frames(cap, path, total, allow_partial), total, \
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

    The MP4 encoder needs even frame sizes (OpenCV would silently drop
    the last odd row and column), so odd-sized frames are padded by
    repeating their last row / column, with one :class:`VideoIOWarning`
    that states both sizes; no pixel is lost. PNG sequences keep the exact
    size. Every frame must have the size of the first.

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
        self.size: Optional[Tuple[int, int]] = None  # (H, W) of the input
        if png:
            shutil.rmtree(self.tmp, ignore_errors=True)
            os.makedirs(self.tmp)
        elif ext.lower() not in ('.mp4', '.avi', '.mov', '.mkv'):
            raise ValueError(f'{out}: video output needs a .mp4 name (or use '
                             'a PNG sequence)')

    def write(self, frame: np.ndarray) -> None:
        """Write one ``(H, W, 3)`` BGR uint8 frame.

        Raises:
            ValueError: when its size differs from the first frame's
                (a video writer would drop it without a word).
        """
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (h, w)
        elif (h, w) != self.size:
            raise ValueError(f'{self.out}: frame {self.count} has size '
                             f'{(h, w)}, the first frame {self.size}')
        if self.png:
            path = osp.join(self.tmp, f'{self.count:05d}.png')
            if not cv2.imwrite(path, frame):
                raise OSError(f'{path}: could not write frame')
        else:
            if self._writer is None:
                self._open_video(h, w)
            if (h % 2) or (w % 2):
                frame = cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2,
                                           cv2.BORDER_REPLICATE)
            self._writer.write(frame)
        self.count += 1

    def _open_video(self, h: int, w: int) -> None:
        even_h, even_w = h + h % 2, w + w % 2
        if (even_h, even_w) != (h, w):
            warnings.warn(
                f'{self.out}: frames are {w}x{h} (WxH) but the MP4 encoder '
                f'needs even sizes: writing {even_w}x{even_h}, the last '
                'column/row repeated (a PNG sequence keeps the exact size)',
                VideoIOWarning)
        self._writer = cv2.VideoWriter(
            self.tmp, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
            (even_w, even_h))
        if not self._writer.isOpened():
            raise OSError(f'{self.out}: could not open an MP4 writer')

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
