import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from fractions import Fraction

import cv2
import numpy as np
import pytest

from mmseg_pdnet.apis import video_io
from mmseg_pdnet.apis.video_io import (AtomicVideoWriter, BackgroundWriter,
                                       IncompleteVideoError, PrefetchIterator,
                                       VideoIONote, VideoIOWarning,
                                       h264_unavailable, limit_frames,
                                       open_source)
from tests.helpers import ROOT


def make_truncated_video(path, frames=20, size=(64, 48)):
    """An MJPG AVI of ``frames`` frames cut at half its bytes: its header
    still declares ``frames``; returns the number that decode."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25,
                             size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    decoded = 0
    while cap.read()[0]:
        decoded += 1
    assert 0 < decoded < frames
    return decoded


def test_truncated_video_raises_after_the_decoded_frames(tmp_path):
    video = tmp_path / 'cut.avi'
    decoded = make_truncated_video(video)
    frames, total, _ = open_source(str(video))
    assert total == 20
    got = []
    with pytest.raises(IncompleteVideoError) as err:
        for frame in frames:
            got.append(frame)
    assert len(got) == decoded
    assert (err.value.decoded, err.value.declared) == (decoded, 20)
    assert str(err.value) == (
        f'{video}: only {decoded} of 20 frames could be decoded (the '
        'container declares 20; the file is truncated or damaged)')
    frames, _, _ = open_source(str(video), allow_partial=True)
    with pytest.warns(VideoIOWarning,
                      match=f'keeping the {decoded} decoded frames'):
        assert len(list(frames)) == decoded
    # a consumer that stops early is not told anything
    frames, _, _ = open_source(str(video))
    assert next(frames).shape == (48, 64, 3)
    frames.close()


def test_folder_frame_of_another_size_is_named(tmp_path):
    for name, h in (('a.png', 20), ('b.png', 20), ('c.png', 22)):
        cv2.imwrite(str(tmp_path / name), np.zeros((h, 30, 3), np.uint8))
    frames, total, _ = open_source(str(tmp_path))
    assert total == 3
    with pytest.raises(ValueError) as err:
        list(frames)
    assert str(err.value) == (
        f'{tmp_path / "c.png"}: frame size (22, 30) differs from the first '
        f'frame {tmp_path / "a.png"} (20, 30) (all frames of a video need '
        'one size)')


def read_all(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return out
        out.append(frame)


def test_odd_frame_size_is_padded_with_a_warning(tmp_path):
    yy, xx = np.mgrid[0:25, 0:33]
    frame = np.dstack([xx * 7, yy * 9, np.full_like(xx, 128)]).astype(
        np.uint8)
    out = tmp_path / 'odd.mp4'
    writer = AtomicVideoWriter(str(out))
    with pytest.warns(VideoIOWarning) as rec:
        for _ in range(3):
            writer.write(frame)
    assert len(rec) == 1 and str(rec[0].message) == (
        f'{out}: frames are 33x25 (WxH) but the MP4 encoder needs even '
        'sizes: writing 34x26, the last column/row repeated (a PNG sequence '
        'keeps the exact size)')
    writer.close()
    frames = read_all(out)
    assert len(frames) == 3 and frames[0].shape == (26, 34, 3)
    # the original pixels are all there (up to MPEG-4 compression)
    assert np.abs(frames[0][:25, :33].astype(int) - frame).mean() < 8
    # PNG sequences keep the exact size; even sizes do not warn
    png = AtomicVideoWriter(str(tmp_path / 'png'), png=True)
    even = AtomicVideoWriter(str(tmp_path / 'even.mp4'))
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoIOWarning)
        png.write(frame)
        even.write(frame[:24, :32])
    assert cv2.imread(png.close() + '/00000.png').shape == (25, 33, 3)
    assert read_all(even.close())[0].shape == (24, 32, 3)


def test_writer_rejects_a_frame_of_another_size(tmp_path):
    writer = AtomicVideoWriter(str(tmp_path / 'o.mp4'))
    writer.write(np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(ValueError, match=r'o.mp4: frame 1 has size '
                       r'\(20, 32\), the first frame \(20, 30\)'):
        writer.write(np.zeros((20, 32, 3), np.uint8))
    writer.abort()
    assert not list(tmp_path.iterdir())


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


def test_limit_frames_reads_no_further():
    source = Source(100)
    assert list(limit_frames(iter(source), 3)) == [0, 1, 2]
    assert source.read == 3 and source.closed
    assert list(limit_frames(range(4), None)) == [0, 1, 2, 3]


def test_png_output_needs_a_folder(tmp_path):
    with pytest.raises(ValueError) as err:
        AtomicVideoWriter(str(tmp_path / 'x.mp4'), png=True)
    assert str(err.value) == (
        f'{tmp_path / "x.mp4"}: a PNG sequence is written to a folder; give '
        'a folder path (e.g. out_frames), or drop --png to write a video')
    assert not (tmp_path / 'x.mp4').exists()
    assert not list(tmp_path.iterdir())


def video_codec(path):
    """The codec of a video's stream, as OpenCV's FourCC (FFmpeg names
    MPEG-4 Part 2 'fmp4', H.264 'h264')."""
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
    cap.release()
    return fourcc.to_bytes(4, 'little').decode().lower()


def gradient(h=48, w=64, shift=0):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([(xx * 3 + shift) % 256, yy * 4,
                      np.full_like(xx, 128)]).astype(np.uint8)


@pytest.mark.skipif(h264_unavailable() is not None,
                    reason='needs PyAV with libx264 (pip install av)')
def test_h264_output_plays_in_browsers(tmp_path):
    import av
    out = tmp_path / 'clip.mp4'
    writer = AtomicVideoWriter(str(out), fps=30000 / 1001)
    assert writer.codec == 'h264'
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoIONote)
        frames = [gradient(shift=10 * i) for i in range(12)]
        for frame in frames:
            writer.write(frame)
    writer.close()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == 'h264'
        assert stream.codec_context.pix_fmt == 'yuv420p'
        assert stream.average_rate == Fraction(30000, 1001)
    assert video_codec(out) == 'h264'
    decoded = read_all(out)
    assert len(decoded) == 12
    assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 4


def test_without_pyav_mp4v_is_written_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(video_io, 'h264_unavailable',
                        lambda: 'PyAV is not installed (pip install av)')
    out = tmp_path / 'clip.mp4'
    with pytest.warns(VideoIONote) as rec:
        writer = AtomicVideoWriter(str(out))
    assert [str(r.message) for r in rec] == [
        f'{out}: writing MPEG-4 Part 2 (mp4v), which most browsers do not '
        'play: for H.264, PyAV is not installed (pip install av)']
    for i in range(3):
        writer.write(gradient(shift=i))
    writer.close()
    assert video_codec(out) == 'fmp4' and len(read_all(out)) == 3
    # asking for H.264 explicitly is an error; mp4v asks nothing
    with pytest.raises(ValueError, match=r'x.mp4: cannot write H.264: PyAV '
                       r'is not installed \(pip install av\)'):
        AtomicVideoWriter(str(tmp_path / 'x.mp4'), codec='h264')
    with warnings.catch_warnings():
        warnings.simplefilter('error', VideoIONote)
        assert AtomicVideoWriter(str(tmp_path / 'y.mp4'),
                                 codec='mp4v').codec == 'mp4v'


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
    with pytest.raises(video_io.FrameReaderError) as err:
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
    with pytest.raises(video_io.FrameReaderError,
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
    with pytest.raises(video_io.FrameReaderError,
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
    with pytest.raises(video_io.FrameReaderError,
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


def write_clip(path, frames=12):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25,
                             (64, 48))
    for i in range(frames):
        writer.write(gradient(shift=5 * i))
    writer.release()
    return path


@pytest.fixture
def infer_video(load_tool, tiny_model_files, capsys, tmp_path):
    """Run tools/infer_video.py on a 12-frame clip whose decoder is
    replaced by ``decoder(real_frames)``; returns the exit code, stderr
    and the files left in the output folder."""
    tool = load_tool('infer_video.py')
    clip = write_clip(tmp_path / 'clip.avi')
    out_dir = tmp_path / 'out'
    out_dir.mkdir()

    def call(monkeypatch, decoder, *args):
        real = video_io._capture_frames
        monkeypatch.setattr(video_io, '_capture_frames',
                            lambda *a, **k: decoder(real(*a, **k)))
        code = tool.main([str(clip), *tiny_model_files, '--out',
                          str(out_dir / 'masks.mp4'), '--output-type',
                          'mask', '--device', 'cpu', *args])
        return code, capsys.readouterr().err, sorted(os.listdir(out_dir))

    call.tool = tool
    return call


def test_infer_video_decoder_crash_is_one_line(infer_video, monkeypatch):

    def decoder(frames):
        for i, frame in enumerate(frames):
            if i == 5:
                raise DecoderCrash('corrupt macroblock')
            yield frame

    code, err, left = infer_video(monkeypatch, decoder, '--save-parts')
    assert code == 1
    errors = [line for line in err.splitlines() if 'error' in line]
    assert errors == [
        'infer_video: error: frame-reader thread: the frame source failed: '
        'DecoderCrash: corrupt macroblock (no output written)']
    assert left == []  # the partial videos are removed


def test_infer_video_hung_decoder_is_one_line(infer_video, monkeypatch):
    release = threading.Event()

    def decoder(frames):
        for i, frame in enumerate(frames):
            if i == 4:
                release.wait(30)
            yield frame

    monkeypatch.setattr(
        infer_video.tool, 'PrefetchIterator',
        lambda *a, **k: PrefetchIterator(*a, stall_timeout=0.5, **k))
    start = time.monotonic()
    code, err, left = infer_video(monkeypatch, decoder)
    release.set()
    assert time.monotonic() - start < 20
    assert code == 1
    assert err.splitlines()[-1] == (
        'infer_video: error: frame-reader thread: no frame for 0.5 s (the '
        'decoder hangs); gave up (no output written)')
    assert left == []


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
    assert 'in segfaulting_decoder' in block and 'video_io.py' in block
    assert 'in _run' in block and 'in _bootstrap' in block
