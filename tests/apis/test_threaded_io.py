"""The background reader and writer threads: order, bounds, errors,
hung and crashed decoders, and the time they count (``busy_s``)."""
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mmseg_pdnet.apis.threaded_io import (BackgroundWriter, FrameReaderError,
                                          PrefetchIterator)
from mmseg_pdnet.apis.video_errors import IncompleteVideoError
from tests.helpers import ROOT


class Source:
    """A generator of numbered items that records how far it was read
    and whether its clean-up ran; raises at ``fail_at`` when given."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at
        self.read, self.closed = 0, False

    def __iter__(self):
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise IncompleteVideoError('clip.mp4', i, self.n)
                self.read += 1
                yield i
        finally:
            self.closed = True


def test_prefetch_keeps_order_and_ends():
    source = Source(50)
    reader = PrefetchIterator(iter(source), maxsize=4)
    assert list(reader) == list(range(50))
    assert source.closed and not reader._thread.is_alive()
    with pytest.raises(StopIteration):
        next(reader)


def test_prefetch_raises_the_source_error_after_its_items():
    source = Source(10, fail_at=6)
    got = []
    with pytest.raises(IncompleteVideoError) as err:
        for item in PrefetchIterator(iter(source), maxsize=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4, 5]
    # the very exception, attributes and all
    assert (err.value.decoded, err.value.declared) == (6, 10)


def test_prefetch_is_bounded_and_close_stops_the_reader():
    source = Source(1000)
    reader = PrefetchIterator(iter(source), maxsize=3)
    assert next(reader) == 0
    time.sleep(0.2)
    # 1 consumed + 3 queued + 1 waiting for room
    assert source.read <= 5
    reader.close()
    assert not reader._thread.is_alive()
    assert source.closed  # the generator's clean-up ran (cap.release())
    with pytest.raises(StopIteration):
        next(reader)


def test_background_writer_keeps_order():
    out = []
    writer = BackgroundWriter(out.append, maxsize=2)
    for i in range(100):
        writer.submit(i)
    writer.close()
    assert out == list(range(100))
    with pytest.raises(RuntimeError, match='after close'):
        writer.submit(1)


def test_background_writer_error_reaches_the_caller():
    seen = []

    def write(item):
        if item == 5:
            raise OSError('disk full')
        seen.append(item)

    writer = BackgroundWriter(write, maxsize=2)
    with pytest.raises(OSError, match='disk full'):
        for i in range(1000):  # never blocks on the failed writer
            writer.submit(i)
    writer.abort()
    assert seen == [0, 1, 2, 3, 4]
    assert not writer._thread.is_alive()
    # an error after the last submit is raised by close()
    late = BackgroundWriter(write, maxsize=2)
    for i in range(6):
        late.submit(i)
    with pytest.raises(OSError, match='disk full'):
        late.close()


def test_background_writer_abort_drops_the_queue():
    release, handled = threading.Event(), []

    def slow(item):
        release.wait(5)
        handled.append(item)

    writer = BackgroundWriter(slow, maxsize=8)
    for i in range(8):
        writer.submit(i)
    release.set()
    writer.abort()
    assert not writer._thread.is_alive() and len(handled) < 8



# ------------------------------------------------- a decoder that dies


class DecoderCrash(Exception):
    """A decoder's own error type (as cv2.error or av.FFmpegError: neither
    OSError nor ValueError)."""


def crashing(n, error):
    """Yield ``0 .. n - 1``, then raise ``error``."""
    yield from range(n)
    raise error


def test_prefetch_names_a_decoder_crash_in_one_line():
    got = []
    with pytest.raises(FrameReaderError) as err:
        for item in PrefetchIterator(
                crashing(3, DecoderCrash('bad packet\n at 0x1f')),
                maxsize=2, stall_timeout=10):
            got.append(item)
    assert got == [0, 1, 2]
    assert str(err.value) == ('frame-reader thread: the frame source '
                              'failed: DecoderCrash: bad packet at 0x1f')
    # the original, traceback and all, is chained
    assert isinstance(err.value.__cause__, DecoderCrash)
    assert err.value.__cause__.__traceback__ is not None


@pytest.mark.parametrize('error', [SystemExit(3), KeyboardInterrupt(),
                                   GeneratorExit()])
def test_prefetch_ends_the_stream_even_on_base_exceptions(error):
    reader = PrefetchIterator(crashing(2, error), maxsize=1,
                              stall_timeout=10)
    assert next(reader) == 0 and next(reader) == 1
    with pytest.raises(FrameReaderError,
                       match=f'failed: {type(error).__name__}'):
        next(reader)
    assert not reader._thread.is_alive()
    with pytest.raises(StopIteration):
        next(reader)


def test_prefetch_reader_that_dies_without_an_end_marker(monkeypatch):
    # as if the thread were killed: it returns without queueing anything
    monkeypatch.setattr(PrefetchIterator, '_run', lambda self: None)
    reader = PrefetchIterator(range(5), stall_timeout=10)
    start = time.monotonic()
    with pytest.raises(FrameReaderError,
                       match='^frame-reader thread: ended without '
                       'finishing the stream$'):
        next(reader)
    assert time.monotonic() - start < 5


def test_prefetch_gives_up_on_a_hung_decoder():
    release = threading.Event()

    def hanging():
        yield 0
        release.wait(30)  # a decode call that never returns
        yield 1

    reader = PrefetchIterator(hanging(), stall_timeout=0.3)
    assert next(reader) == 0
    start = time.monotonic()
    with pytest.raises(FrameReaderError,
                       match=r'^frame-reader thread: no frame for 0.3 s '
                       r'\(the decoder hangs\); gave up$'):
        next(reader)
    reader.close()  # does not wait for the hung thread (30 s)
    assert time.monotonic() - start < 20
    with pytest.raises(StopIteration):
        next(reader)
    release.set()  # let the thread end
    reader._thread.join(5)
    assert not reader._thread.is_alive()


def test_prefetch_stall_timeout_ignores_the_consumers_own_work():
    reader = PrefetchIterator(range(4), maxsize=1, stall_timeout=0.2)
    got = []
    for item in reader:
        # the reader has queued the next item (or the end) however loaded
        # the machine; then a slow model: longer than the stall timeout,
        # which counts only the consumer's waiting
        guard = time.monotonic() + 30
        while not reader._queue.full() and time.monotonic() < guard:
            time.sleep(0.01)
        time.sleep(0.3)
        got.append(item)
    assert got == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='stall_timeout must be > 0'):
        PrefetchIterator(range(1), stall_timeout=0)



def test_segfault_in_the_reader_thread_prints_its_stack():
    # a real crash kills the process (no error message can follow it);
    # the fault handler names the thread's stack instead of silence
    code = textwrap.dedent('''
        import ctypes
        from mmseg_pdnet.apis.video_io import (PrefetchIterator,
                                               enable_fault_handler)
        assert enable_fault_handler()
        def segfaulting_decoder():
            yield 0
            ctypes.string_at(0)
        list(PrefetchIterator(segfaulting_decoder()))
    ''')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == -signal.SIGSEGV, proc.stderr
    assert 'Fatal Python error: Segmentation fault' in proc.stderr
    # the crashed thread's stack only: the decoder, inside the reader
    block = proc.stderr.split('Stack (most recent call first):')[1]
    assert 'in segfaulting_decoder' in block and 'threaded_io.py' in block
    assert 'in _run' in block and 'in _bootstrap' in block


class FakeClock:
    """A clock that only the producer / the write function advances."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_prefetch_counts_the_time_spent_producing():
    clock = FakeClock()

    def decoder():
        for i in range(5):
            clock.now += 0.25  # decoding frame i takes 0.25 "seconds"
            yield i
        clock.now += 0.5  # finding the end of the file

    reader = PrefetchIterator(decoder(), maxsize=2, clock=clock)
    assert list(reader) == [0, 1, 2, 3, 4]
    assert reader.busy_s == pytest.approx(5 * 0.25 + 0.5)


def test_background_writer_counts_the_time_spent_writing():
    clock = FakeClock()

    def encode(item):
        clock.now += 0.1 * item
        if item == 4:
            raise OSError('disk full')  # a failed write counts too

    writer = BackgroundWriter(encode, maxsize=2, clock=clock)
    for i in range(5):
        writer.submit(i)
    with pytest.raises(OSError, match='disk full'):
        writer.close()
    assert writer.busy_s == pytest.approx(0.1 * (0 + 1 + 2 + 3 + 4))
