# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Frame sources: video files (PyAV), frame folders, cameras, iterables.

Sources stream frames one at a time (never the whole video in memory).
Video files are decoded by PyAV (FFmpeg, frame-threaded), which gives the
container's exact frame count and timestamps; OpenCV only opens cameras.
Nothing is dropped silently: a video that decodes fewer frames than its
container declares raises :class:`IncompleteVideoError` (or warns, with
``allow_partial=True``). Frames come out as displayed: a rotation in the
video's display matrix (phone clips) is applied, as OpenCV and players do.
"""
import os
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ..datasets.image_io import read_frame
from ..utils.file_types import IMAGE_SUFFIXES
from .video_errors import IncompleteVideoError, VideoIOWarning, import_av

FrameSource = Union[str, int, Iterable[np.ndarray]]
#: the rotation that shows a frame upright, by the counter-clockwise angle
#: of its display matrix (PyAV's ``VideoFrame.rotation``)
_UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180,
            -180: cv2.ROTATE_180, -90: cv2.ROTATE_90_CLOCKWISE,
            270: cv2.ROTATE_90_CLOCKWISE}


@dataclass(frozen=True)
class VideoInfo:
    """What a video file's container says about it.

    Attributes:
        frames (int, optional): Frames the container declares; None when
            it declares none (Matroska / WebM), see ``estimated_frames``.
        estimated_frames (int, optional): ``frames``, or else the video
            stream's duration times its frame rate; None when neither.
        fps (float): Average frame rate (25 when unknown).
        size (tuple): ``(H, W)`` of the frames as displayed (rotated).
        rotation (int): Counter-clockwise display rotation in degrees.
        duration (float, optional): Seconds of the video stream.
        has_audio (bool): Whether the file holds an audio stream.
    """
    frames: Optional[int]
    estimated_frames: Optional[int]
    fps: float
    size: Tuple[int, int]
    rotation: int
    duration: Optional[float]
    has_audio: bool


def _stream_duration(stream, container) -> Optional[float]:
    """Seconds of ``stream``: its own duration, Matroska's per-stream
    ``DURATION`` tag, or the container's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get('DURATION')  # 'HH:MM:SS.nnnnnnnnn'
    if tag:
        try:
            h, m, s = tag.split(':')
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    return container.duration / 1e6 if container.duration else None


def probe_video(path: str) -> VideoInfo:
    """Read a video file's header and first frame.

    Args:
        path (str): The video file.

    Returns:
        VideoInfo: Its frame count, rate, size, rotation, duration, audio.

    Raises:
        FileNotFoundError / ValueError: naming the path (missing, not a
            video, no video stream).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: video does not exist')
    av = import_av(path)
    try:
        container = av.open(path)
    except (av.FFmpegError, UnicodeDecodeError):
        raise ValueError(f'{path}: not a readable video') from None
    with container:
        if not container.streams.video:
            raise ValueError(f'{path}: not a readable video (it holds no '
                             'video stream)')
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        duration = _stream_duration(stream, container)
        frames = stream.frames or None
        estimated = frames or (round(duration * fps) if duration else None)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError:
            first = None
        rotation = first.rotation if first is not None else 0
        h, w = stream.codec_context.height, stream.codec_context.width
        if rotation in (90, -90, 270):
            h, w = w, h
        return VideoInfo(frames, estimated, fps, (h, w), rotation, duration,
                         bool(container.streams.audio))


def _decoded(av, container, stream, errors: list) -> Iterator:
    """The decoded frames of ``stream``. A packet that does not decode is
    skipped, as OpenCV and FFmpeg's tools do (the frame count tells); a
    demuxer error ends the stream. Both are appended to ``errors``."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as e:
            errors.append(e)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError as e:
            errors.append(e)
            continue
        yield from frames


def _decode_frames(path: str, info: VideoInfo,
                   allow_partial: bool = False) -> Iterator[np.ndarray]:
    """Yield the upright BGR frames of a video file; at the end compare
    their number with the container's (checked only when the stream is
    read to its end, not when the consumer stops early)."""
    av = import_av(path)
    count, errors = 0, []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'  # frame and slice threads
        for frame in _decoded(av, container, stream, errors):
            image = frame.to_ndarray(format='bgr24')
            if frame.rotation in _UPRIGHT:
                image = cv2.rotate(image, _UPRIGHT[frame.rotation])
            count += 1
            yield image
    failure = ' '.join(str(errors[-1]).split()) if errors else None
    if count == 0:
        raise ValueError(f'{path}: no frame could be read (empty or '
                         'unsupported video)')
    declared = info.frames or info.estimated_frames
    # a count from the duration may be off by one in rounding
    slack = 0 if info.frames else 1
    if declared and count < declared - slack:
        err = IncompleteVideoError(path, count, declared,
                                   estimated=not info.frames)
    elif failure and not declared:
        err = ValueError(f'{path}: decoding failed after {count} frames '
                         f'({failure})')
    else:
        return
    if not allow_partial:
        raise err
    warnings.warn(f'{err}; keeping the {count} decoded frames',
                  VideoIOWarning)


def _capture_frames(cap: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """Yield the frames of a camera until it gives none."""
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
    finally:
        cap.release()


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
            its container declares (or, for Matroska / WebM, than its
            duration implies), warn (:class:`VideoIOWarning`) instead of
            raising :class:`IncompleteVideoError`. Either happens after the
            last decoded frame was yielded. Defaults to False.

    Returns:
        tuple: a frame iterator, the number of frames when known (for a
        video file, the declared count, else the one its duration
        implies), and the frame rate (25 when unknown).

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
        return _capture_frames(cap), None, \
            cap.get(cv2.CAP_PROP_FPS) or 25.0
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        if osp.isdir(path):
            names = sorted(f for f in os.listdir(path)
                           if f.lower().endswith(IMAGE_SUFFIXES))
            if not names:
                raise ValueError(f'{path}: folder holds no image frame')
            return _folder_frames(path, names), len(names), 25.0
        info = probe_video(path)
        return _decode_frames(path, info, allow_partial), \
            info.estimated_frames, info.fps
    try:
        iterator = iter(source)
    except TypeError:
        raise TypeError('source must be a path, a camera index or an '
                        f'iterable of frames, got {type(source).__name__}')
    return iterator, (len(source) if hasattr(source, '__len__') else None), \
        25.0


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


def limit_frames(frames: Iterable, limit: Optional[int]) -> Iterator:
    """The first ``limit`` items of ``frames`` (all when None).

    Unlike :func:`itertools.islice`, it stops without reading item
    ``limit + 1`` (a video is not decoded further than needed, so a
    truncated end that is never reached is not an error) and closes a
    generator source, which closes its decoder at once.
    """
    iterator = iter(frames)
    try:
        if limit is None:
            yield from iterator
        else:
            # zip pulls the range first: it ends before reading one more
            for _, frame in zip(range(limit), iterator):
                yield frame
    finally:
        close = getattr(iterator, 'close', None)
        if close is not None:
            close()
