"""Video files in and out: honest decoding (truncated files, frame
folders), the atomic writer (odd sizes, codecs) and the tool's handling
of a decoder that fails. Alpha, audio, PyAV decoding details and the
threads have their own test files."""
import os
import threading
import time
import warnings
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from mmseg_pdnet.apis import video_decode, video_io
from mmseg_pdnet.apis.video_io import (AtomicVideoWriter,
                                       IncompleteVideoError, PrefetchIterator,
                                       VideoIONote, VideoIOWarning,
                                       h264_unavailable, limit_frames,
                                       open_source)
from tests.apis.test_threaded_io import DecoderCrash, Source


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
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == frames
        decoded = sum(1 for _ in container.decode(video=0))
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
        real = video_decode._decode_frames
        monkeypatch.setattr(video_decode, '_decode_frames',
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


def test_webm_output_is_vp9(tmp_path):
    out = tmp_path / 'clip.webm'
    writer = AtomicVideoWriter(str(out))
    assert writer.codec == 'vp9'
    frames = [gradient(shift=10 * i) for i in range(4)]
    for frame in frames:
        writer.write(frame)
    writer.close()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) \
            == ('vp9', 'yuv420p')
        decoded = [f.to_ndarray(format='bgr24')
                   for f in container.decode(stream)]
    assert len(decoded) == 4
    assert np.abs(decoded[2].astype(int) - frames[2]).mean() < 4
    # a WebM holds VP8 / VP9 / AV1 only
    with pytest.raises(ValueError, match=r"x.webm: a .webm video is VP9, "
                       r"not h264; use codec 'auto'$"):
        AtomicVideoWriter(str(tmp_path / 'x.webm'), codec='h264')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clip.webm']
