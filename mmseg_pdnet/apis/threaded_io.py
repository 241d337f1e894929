# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Background threads for decoding and encoding, with honest failures.

:class:`PrefetchIterator` and :class:`BackgroundWriter` move decoding and
encoding to background threads (bounded queues, order kept, errors raised
in the calling thread), so that the model does not wait on I/O. Both count
the seconds their thread spends in the source / the write function
(``busy_s``), so a tool can say whether decoding or encoding bounds its
speed. A decoder that fails, dies or hangs ends the stream with one error
(:class:`FrameReaderError`), never with a consumer waiting forever. A
segmentation fault in a decoder thread kills the whole process: no Python
code runs after it, so it cannot become such an error;
:func:`enable_fault_handler` makes it print the crashed thread's stack
instead of dying silently.
"""
import faulthandler
import queue
import sys
import threading
import time
from typing import Any, Callable, Iterable, Optional

_END = object()  # end-of-stream marker of the background queues
#: seconds :class:`PrefetchIterator` waits for the next frame by default
STALL_TIMEOUT = 60.0
Clock = Callable[[], float]


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

    Attributes:
        busy_s (float): Seconds the reader thread spent in the source
            (producing items, e.g. decoding), not waiting for queue room.

    Args:
        iterable (Iterable): Items to read, e.g. from :func:`open_source`.
        maxsize (int): Items read ahead at most. Defaults to 8.
        name (str): The thread's name. Defaults to ``'frame-reader'``.
        stall_timeout (float, optional): Seconds :meth:`__next__` waits for
            an item while the reader thread is alive (the consumer's own
            work between two items does not count); None waits forever.
            Defaults to :data:`STALL_TIMEOUT` (60).
        clock (Callable): The clock of ``busy_s``. Defaults to
            :func:`time.perf_counter`.
    """

    def __init__(self, iterable: Iterable, maxsize: int = 8,
                 name: str = 'frame-reader',
                 stall_timeout: Optional[float] = STALL_TIMEOUT,
                 clock: Clock = time.perf_counter):
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
        self._clock = clock
        self.busy_s = 0.0
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

    def _next_item(self) -> Any:
        """The source's next item (``_END`` at its end), timed."""
        start = self._clock()
        try:
            return next(self._source, _END)
        finally:
            self.busy_s += self._clock() - start

    def _run(self) -> None:
        try:
            while True:
                item = self._next_item()
                if item is _END:
                    break
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as e:  # noqa: B902  re-raised in the consumer
            # BaseException too (SystemExit, GeneratorExit, ...): without
            # an end marker the consumer would have to find out otherwise
            self._put((_END, e))
        finally:
            # a generator's own clean-up (closing the decoder) runs in its
            # thread
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

    Attributes:
        busy_s (float): Seconds the writer thread spent in ``fn`` (e.g.
            rendering and encoding), not waiting for items.

    Args:
        fn (Callable): Called with each item, in the writer thread.
        maxsize (int): Items waiting at most. Defaults to 8.
        name (str): The thread's name. Defaults to ``'frame-writer'``.
        clock (Callable): The clock of ``busy_s``. Defaults to
            :func:`time.perf_counter`.
    """

    def __init__(self, fn: Callable[[Any], None], maxsize: int = 8,
                 name: str = 'frame-writer',
                 clock: Clock = time.perf_counter):
        if maxsize < 1:
            raise ValueError(f'maxsize must be >= 1, got {maxsize}')
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: Optional[BaseException] = None
        self._drop = False  # set on abort: skip what is still queued
        self._closed = False
        self._clock = clock
        self.busy_s = 0.0
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
            start = self._clock()
            try:
                self._fn(item)
            except BaseException as e:  # noqa: B902  re-raised by submit
                self._error = e
            finally:
                self.busy_s += self._clock() - start

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
