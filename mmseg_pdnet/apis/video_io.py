# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Frame sources and writers for video inference.

Sources stream frames one at a time (never the whole video in memory);
writers write to a temporary name and move it into place only on
success, so a failed run never leaves a half-written file that looks
complete. Nothing is dropped or resized silently: a video that decodes
fewer frames than its container declares raises
:class:`IncompleteVideoError` (or warns, with ``allow_partial=True``), and
MP4 frames of odd size are padded to even size with a
:class:`VideoIOWarning` stating both sizes.

MP4s are H.264 (``yuv420p``, browser-playable) through PyAV when it is
installed (``pip install av``); without it OpenCV writes MPEG-4 Part 2
(``mp4v``), which most browsers do not play, with a
:class:`VideoIONote` saying so.

:class:`PrefetchIterator` and :class:`BackgroundWriter` move decoding and
encoding to background threads (bounded queues, order kept, errors raised
in the calling thread), so that the model does not wait on I/O. A decoder
that fails, dies or hangs ends the stream with one error
(:class:`FrameReaderError`), never with a consumer waiting forever. A
segmentation fault in a decoder thread kills the whole process: no Python
code runs after it, so it cannot become such an error;
:func:`enable_fault_handler` makes it print the crashed thread's stack
instead of dying silently.
"""
import faulthandler
import os
import os.path as osp
import queue
import shutil
import sys
import threading
import time
import warnings
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ..datasets.image_io import IMAGE_SUFFIXES, read_frame

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv')
CODECS = ('auto', 'h264', 'mp4v')
FrameSource = Union[str, int, Iterable[np.ndarray]]


class VideoIOWarning(UserWarning):
    """A video was read or written other than as is (partial decode,
    padded frames); the message states what and why."""


class VideoIONote(UserWarning):
    """Information about how a video is written (e.g. the codec fallback
    without PyAV): nothing is lost, so the tools show it as a note."""


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


def check_output_path(out: str, png: bool = False) -> None:
    """Check that ``out`` suits the output kind, before any work is done.

    Args:
        out (str): The output path.
        png (bool): A PNG sequence (a folder) instead of a video file.

    Raises:
        ValueError: a PNG sequence given a file name (``x.mp4`` would
            become a folder of that name), or a video without a video
            suffix.
    """
    ext = osp.splitext(osp.normpath(out))[1].lower()
    if png and (ext in VIDEO_SUFFIXES + IMAGE_SUFFIXES or osp.isfile(out)):
        raise ValueError(f'{out}: a PNG sequence is written to a folder; '
                         'give a folder path (e.g. out_frames), or drop '
                         '--png to write a video')
    if not png and ext not in VIDEO_SUFFIXES:
        raise ValueError(f'{out}: video output needs a .mp4 name (or .mov, '
                         '.mkv, .avi; or --png for a PNG sequence)')


def h264_unavailable() -> Optional[str]:
    """Why H.264 cannot be written here, or None when it can.

    H.264 is written with PyAV (``pip install av``; its wheels bundle
    FFmpeg with libx264). OpenCV's pip wheels have no H.264 encoder.
    """
    try:
        import av
    except ImportError:
        return 'PyAV is not installed (pip install av)'
    try:
        av.codec.Codec('libx264', 'w')
    except Exception:  # noqa: B902  PyAV's errors differ between versions
        return f'PyAV {av.__version__} has no libx264 encoder'
    return None


class AtomicVideoWriter:
    """MP4 or PNG-sequence writer whose output appears only on success.

    Frames go to ``<out>.partial...`` and :meth:`close` moves them to
    ``out``; :meth:`abort` deletes the partial output.

    Videos are H.264 (``yuv420p``, CRF 18, ``+faststart``: plays in
    browsers) through PyAV when it is installed, else MPEG-4 Part 2
    (``mp4v``) through OpenCV with one :class:`VideoIONote`. Both encoders
    need even frame sizes (OpenCV would silently drop the last odd row and
    column), so odd-sized frames are padded by repeating their last row /
    column, with one :class:`VideoIOWarning` that states both sizes; no
    pixel is lost. PNG sequences keep the exact size. Every frame must
    have the size of the first.

    Args:
        out (str): ``*.mp4`` (``.avi``, ``.mov``, ``.mkv``) file, or a
            folder for a PNG sequence (``png=True``).
        fps (float): Frame rate of the video. Defaults to 25.
        png (bool): Write ``out/00000.png, ...`` instead of a video.
            Defaults to False.
        codec (str): ``'auto'`` (H.264 when PyAV can, else ``mp4v`` with a
            note), ``'h264'`` (an error without PyAV) or ``'mp4v'``.
            Defaults to ``'auto'``.
    """

    def __init__(self, out: str, fps: float = 25.0, png: bool = False,
                 codec: str = 'auto'):
        self.out, self.fps, self.png = out, fps, png
        stem, ext = osp.splitext(osp.basename(osp.normpath(out)))
        if codec not in CODECS:
            raise ValueError(f'codec must be one of {CODECS}, got {codec!r}')
        check_output_path(out, png)
        if not png and codec != 'mp4v':
            reason = h264_unavailable()
            if reason is not None and codec == 'h264':
                raise ValueError(f'{out}: cannot write H.264: {reason}')
            if reason is not None:
                warnings.warn(
                    f'{out}: writing MPEG-4 Part 2 (mp4v), which most '
                    f'browsers do not play: for H.264, {reason}',
                    VideoIONote)
            codec = 'mp4v' if reason is not None else 'h264'
        self.codec = None if png else codec
        parent = osp.dirname(osp.abspath(out))
        os.makedirs(parent, exist_ok=True)
        self.tmp = osp.join(parent, f'.{stem}.partial{"" if png else ext}')
        self._writer = None  # cv2.VideoWriter or (av container, stream)
        self.count = 0
        self.size: Optional[Tuple[int, int]] = None  # (H, W) of the input
        if png:
            shutil.rmtree(self.tmp, ignore_errors=True)
            os.makedirs(self.tmp)

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
            if self.codec == 'h264':
                self._encode(frame)
            else:
                self._writer.write(frame)
        self.count += 1

    def _encode(self, frame: Optional[np.ndarray]) -> None:
        """Encode one BGR frame with PyAV (None flushes the encoder)."""
        import av
        container, stream = self._writer
        if frame is not None:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame), format='bgr24')
        try:
            container.mux(stream.encode(frame))
        except av.FFmpegError as e:  # one line naming the output
            raise OSError(f'{self.out}: H.264 encoding failed ({e})')

    def _open_video(self, h: int, w: int) -> None:
        even_h, even_w = h + h % 2, w + w % 2
        if (even_h, even_w) != (h, w):
            warnings.warn(
                f'{self.out}: frames are {w}x{h} (WxH) but the MP4 encoder '
                f'needs even sizes: writing {even_w}x{even_h}, the last '
                'column/row repeated (a PNG sequence keeps the exact size)',
                VideoIOWarning)
        if self.codec == 'h264':
            self._open_h264(even_h, even_w)
            return
        self._writer = cv2.VideoWriter(
            self.tmp, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
            (even_w, even_h))
        if not self._writer.isOpened():
            raise OSError(f'{self.out}: could not open an MP4 writer')

    def _open_h264(self, h: int, w: int) -> None:
        import av
        # +faststart puts the index first: browsers play while loading
        options = {'movflags': '+faststart'} if osp.splitext(
            self.tmp)[1].lower() in ('.mp4', '.mov') else {}
        try:
            container = av.open(self.tmp, mode='w', options=options)
        except Exception as e:  # noqa: B902  PyAV's errors vary
            raise OSError(f'{self.out}: could not open an H.264 writer '
                          f'({e})')
        # an exact rate for NTSC-style 29.97 (30000/1001) and the like
        stream = container.add_stream(
            'libx264', rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = w, h
        stream.pix_fmt = 'yuv420p'  # the one browsers decode
        stream.options = {'crf': '18', 'preset': 'medium'}
        self._writer = (container, stream)

    def _release(self, flush: bool = True) -> None:
        """Close the encoder; ``flush`` writes the frames an H.264 encoder
        still holds (not needed when the output is deleted)."""
        if self._writer is None:
            return
        try:
            if self.codec != 'h264':
                self._writer.release()
            elif flush:
                self._encode(None)
        finally:
            if self.codec == 'h264':
                try:
                    self._writer[0].close()
                except Exception:  # noqa: B902
                    if flush:  # when aborting, the file is deleted anyway
                        raise
            self._writer = None

    def close(self) -> str:
        """Finish and move the output into place; returns its path."""
        try:
            self._release()
        except BaseException:
            self.abort()
            raise
        if self.count == 0:
            self.abort()
            raise ValueError(f'{self.out}: no frame was written')
        if osp.isdir(self.out) and self.png:
            shutil.rmtree(self.out)
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        """Delete the partial output."""
        self._release(flush=False)
        if osp.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif osp.exists(self.tmp):
            os.remove(self.tmp)


def limit_frames(frames: Iterable, limit: Optional[int]) -> Iterator:
    """The first ``limit`` items of ``frames`` (all when None).

    Unlike :func:`itertools.islice`, it stops without reading item
    ``limit + 1`` (a video is not decoded further than needed, so a
    truncated end that is never reached is not an error) and closes a
    generator source, which releases its video capture at once.
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


_END = object()  # end-of-stream marker of the background queues
#: seconds :class:`PrefetchIterator` waits for the next frame by default
STALL_TIMEOUT = 60.0


class FrameReaderError(RuntimeError):
    """The frame reader thread failed, died or hung.

    Its message is one line naming the thread and the cause; a source
    error other than ``OSError`` / ``ValueError`` is its ``__cause__``.
    """


def enable_fault_handler() -> bool:
    """Print the crashed thread's stack on a fatal signal (SIGSEGV, ...).

    A segmentation fault in the decoder (FFmpeg, OpenCV) kills the whole
    process, whichever thread it happens in: nothing can turn it into an
    error message in the same process. With :mod:`faulthandler` the
    process at least writes one block to stderr, ``Fatal Python error:
    Segmentation fault`` and the stack of the thread that crashed (the
    reader thread shows :meth:`PrefetchIterator._run` and the source's
    frames), instead of dying silently.

    Returns:
        bool: Whether it was enabled by this call (False when it already
        was, e.g. by ``python -X faulthandler`` or pytest, or when stderr
        is no real file).
    """
    if faulthandler.is_enabled():
        return False
    try:
        # the real stderr: faulthandler needs a file descriptor
        faulthandler.enable(file=sys.__stderr__, all_threads=False)
    except (AttributeError, OSError, ValueError):  # no stderr / no fileno
        return False
    return True


class PrefetchIterator:
    """Iterate over ``iterable`` in a background thread, a few items ahead.

    Decoding the next frames overlaps with the model's work on the current
    one. The queue is bounded (``maxsize`` items), so a fast decoder never
    holds more than that in memory. Items come out in their order; an
    exception raised by the source is raised by :meth:`__next__` once the
    items before it were consumed: ``OSError`` and ``ValueError`` (e.g.
    :class:`IncompleteVideoError`, which name the video) as they are, with
    their attributes and traceback; any other (a decoder's own error type,
    even a ``BaseException``) as a :class:`FrameReaderError` naming the
    thread and the error, the original as its ``__cause__``. The consumer
    never waits forever: a reader thread that ended without finishing the
    stream, or that gave no item for ``stall_timeout`` seconds (a decoder
    that hangs), is a :class:`FrameReaderError` too. :meth:`close` (also
    on ``with`` exit) stops the thread and closes a generator source; a
    consumer that stops early or fails should call it.

    Args:
        iterable (Iterable): Items to read, e.g. from :func:`open_source`.
        maxsize (int): Items read ahead at most. Defaults to 8.
        name (str): The thread's name. Defaults to ``'frame-reader'``.
        stall_timeout (float, optional): Seconds :meth:`__next__` waits for
            an item while the reader thread is alive (the consumer's own
            work between two items does not count); None waits forever.
            Defaults to :data:`STALL_TIMEOUT` (60).
    """

    def __init__(self, iterable: Iterable, maxsize: int = 8,
                 name: str = 'frame-reader',
                 stall_timeout: Optional[float] = STALL_TIMEOUT):
        if maxsize < 1:
            raise ValueError(f'maxsize must be >= 1, got {maxsize}')
        if stall_timeout is not None and stall_timeout <= 0:
            raise ValueError(f'stall_timeout must be > 0, got '
                             f'{stall_timeout}')
        self._source = iter(iterable)
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._done = False
        self._stalled = False
        self.stall_timeout = stall_timeout
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless stopped; False when stopped."""
        # a timeout, not a blocking put: close() must be able to stop a
        # reader that waits for room in a full queue
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as e:  # noqa: B902  re-raised in the consumer
            # BaseException too (SystemExit, GeneratorExit, ...): without
            # an end marker the consumer would have to find out otherwise
            self._put((_END, e))
        finally:
            # a generator's own clean-up (cap.release()) runs in its thread
            close = getattr(self._source, 'close', None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: B902  already failing or done
                    pass

    def _error(self, error: BaseException) -> BaseException:
        """What the consumer raises for a source error (see the class)."""
        if isinstance(error, (OSError, ValueError, FrameReaderError)):
            return error
        text = ' '.join(str(error).split())
        wrapped = FrameReaderError(
            f'{self._thread.name} thread: the frame source failed: '
            f'{type(error).__name__}' + (f': {text}' if text else ''))
        wrapped.__cause__ = error
        return wrapped

    def __iter__(self) -> 'PrefetchIterator':
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        start = time.monotonic()
        while True:
            try:
                item, error = self._queue.get(timeout=0.05)
                break
            except queue.Empty:
                # the reader always queues an end marker; this guards a
                # thread killed without one, so that the consumer cannot
                # wait forever
                if not self._thread.is_alive() and self._queue.empty():
                    self._done = True
                    raise FrameReaderError(
                        f'{self._thread.name} thread: ended without '
                        'finishing the stream')
                if self.stall_timeout is not None and \
                        time.monotonic() - start > self.stall_timeout:
                    self._done = self._stalled = True
                    self._stop.set()
                    raise FrameReaderError(
                        f'{self._thread.name} thread: no frame for '
                        f'{self.stall_timeout:g} s (the decoder hangs); '
                        'gave up')
        if item is _END:
            self._done = True
            self._thread.join()
            if error is not None:
                raise self._error(error)
            raise StopIteration
        return item

    def close(self, timeout: float = 10.0) -> None:
        """Stop the reader thread and wait for it (``timeout`` seconds at
        most: a camera read that never returns must not hang the exit; the
        thread is a daemon). A reader found hung is not waited for."""
        self._done = True
        self._stop.set()
        self._thread.join(0 if self._stalled else timeout)
        # the items read ahead are dropped with the queue

    def __enter__(self) -> 'PrefetchIterator':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BackgroundWriter:
    """Call ``fn(item)`` for every submitted item in a background thread.

    Encoding and writing overlap with the model's work on the next frame.
    Items are handled one at a time in submission order; the queue is
    bounded (``maxsize``), so :meth:`submit` waits when the writer falls
    behind instead of piling frames up in memory. The first exception of
    ``fn`` is raised in the submitting thread by the next :meth:`submit`
    or by :meth:`close`; the items after it are dropped.

    Args:
        fn (Callable): Called with each item, in the writer thread.
        maxsize (int): Items waiting at most. Defaults to 8.
        name (str): The thread's name. Defaults to ``'frame-writer'``.
    """

    def __init__(self, fn: Callable[[Any], None], maxsize: int = 8,
                 name: str = 'frame-writer'):
        if maxsize < 1:
            raise ValueError(f'maxsize must be >= 1, got {maxsize}')
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: Optional[BaseException] = None
        self._drop = False  # set on abort: skip what is still queued
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None or self._drop:
                continue  # keep draining, so that submit() never blocks
            try:
                self._fn(item)
            except BaseException as e:  # noqa: B902  re-raised by submit
                self._error = e

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise RuntimeError(f'{self._thread.name}: thread ended '
                                       'unexpectedly')

    def submit(self, item: Any) -> None:
        """Queue one item; raises the writer's error, if any, first."""
        if self._closed:
            raise RuntimeError('submit() after close() or abort()')
        self._raise_error()
        self._put(item)

    def close(self) -> None:
        """Wait until every item is handled; raise the writer's error."""
        if not self._closed:
            self._closed = True
            self._put(_END)
            self._thread.join()
        self._raise_error()

    def abort(self) -> None:
        """Drop the queued items and stop the thread (errors are not
        raised: the caller is already handling one)."""
        self._drop = True
        if not self._closed:
            self._closed = True
            self._put(_END)
        self._thread.join()
