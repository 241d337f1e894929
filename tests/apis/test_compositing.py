"""Transparent frames and video backgrounds (apis/compositing.py,
apis/background_clip.py)."""
import numpy as np
import pytest

from mmseg_pdnet.apis import background_clip
from mmseg_pdnet.apis.background_clip import BackgroundClip
from mmseg_pdnet.apis.compositing import parse_background, render, rgba


def write_lossless_clip(path, colours, size=(24, 32)):
    """A clip of solid BGR ``colours``, one frame each (FFV1: decodes
    back exactly)."""
    av = pytest.importorskip('av')
    with av.open(str(path), 'w') as c:
        s = c.add_stream('ffv1', rate=25)
        s.height, s.width = size
        s.pix_fmt = 'bgr0'
        for colour in colours:
            frame = np.empty(size + (3, ), np.uint8)
            frame[:] = colour
            for p in s.encode(av.VideoFrame.from_ndarray(frame,
                                                         format='bgr24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_rgba_puts_the_probability_in_alpha():
    frame = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    prob = np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7)
    out = render('rgba', frame, (prob > 0.5).astype(np.uint8), prob)
    assert out.shape == (5, 7, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], frame)
    np.testing.assert_array_equal(out[..., 3], np.rint(prob * 255))
    assert np.array_equal(rgba(frame, prob), out)


def test_background_clip_loops_and_fits(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    clip = parse_background(str(write_lossless_clip(tmp_path / 'bg.mkv',
                                                    colours)))
    assert isinstance(clip, BackgroundClip)
    stream = clip.stream((10, 50))  # another aspect: covered, cropped
    try:
        got = [stream.next() for _ in range(7)]
    finally:
        stream.close()
    for i, frame in enumerate(got):
        assert frame.shape == (10, 50, 3)
        assert (frame == colours[i % 3]).all(), i


def test_background_clip_is_streamed(tmp_path, monkeypatch):
    """Only a few frames ahead are decoded, not the whole clip."""
    path = write_lossless_clip(tmp_path / 'long.mkv',
                               [(i, i, i) for i in range(60)])
    decoded = []
    real = background_clip.open_source

    def counting(source, *args, **kwargs):
        frames, total, fps = real(source, *args, **kwargs)

        def gen():
            for frame in frames:
                decoded.append(1)
                yield frame
        return gen(), total, fps

    monkeypatch.setattr(background_clip, 'open_source', counting)
    stream = BackgroundClip(str(path)).stream((24, 32))
    first = [stream.next()[0, 0, 0] for _ in range(3)]
    stream.close()
    assert first == [0, 1, 2]
    # the check on construction decodes one frame; the thread reads at
    # most its queue and one more ahead
    assert len(decoded) <= 1 + 3 + background_clip.QUEUE_SIZE + 1


def test_bad_background_videos_are_one_line(tmp_path):
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError) as err:
        parse_background(str(junk))
    assert str(err.value).startswith(f'--background {junk}: ')
    assert '\n' not in str(err.value)
    with pytest.raises(FileNotFoundError,
                       match='background video does not exist'):
        parse_background(str(tmp_path / 'none.mov'))
