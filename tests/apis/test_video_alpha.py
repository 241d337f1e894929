"""Videos and PNG sequences with an alpha channel, decoded back with
PyAV and compared with the alpha written."""
import av
import cv2
import numpy as np
import pytest

from mmseg_pdnet.apis.video_encode import ALPHA_ENCODERS
from mmseg_pdnet.apis.video_io import (ALPHA_VIDEO_SUFFIXES,
                                       AtomicVideoWriter)

#: largest and mean alpha error measured on these frames (PyAV 18.1's
#: FFmpeg, 8-bit alpha in and out): ProRes 4444 keeps 16-bit alpha, so
#: only rounding (max 1); VP9 yuva420p at CRF 18 codes the alpha as a
#: second lossy layer (max 3 at the soft edge, mean 0.31)
TOLERANCE = {'.mov': (1, 0.5), '.webm': (3, 0.5)}


def bgra(i, h=48, w=64):
    """A portrait-like matte: a soft-edged disc that moves, on a frame
    of colour gradients."""
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(xx - 24 - 2 * i, yy - 24) - 14
    alpha = 255 / (1 + np.exp(dist / 1.5))
    return np.dstack([(xx * 3 + 9 * i) % 256, yy * 4, np.full_like(xx, 90),
                      np.rint(alpha)]).astype(np.uint8)


def decoded_alpha(path):
    """The alpha planes of a video, decoded by a decoder that reads it
    (FFmpeg's own vp9 decoder drops WebM's alpha layer; libvpx reads it)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == 'vp9':
            ctx = av.CodecContext.create('libvpx-vp9', 'r')
            frames = [f for p in container.demux(stream)
                      for f in ctx.decode(p)]
        else:
            frames = list(container.decode(stream))
        assert all('a' in f.format.name for f in frames)
        return [f.to_ndarray(format='rgba')[..., 3] for f in frames]


@pytest.mark.parametrize('ext', ALPHA_VIDEO_SUFFIXES)
def test_alpha_video_keeps_the_alpha(tmp_path, ext):
    out = tmp_path / f'matte{ext}'
    writer = AtomicVideoWriter(str(out), alpha=True)
    frames = [bgra(i) for i in range(8)]
    for frame in frames:
        writer.write(frame)
    writer.close()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.frames in (0, 8)  # WebM declares no count
        name = stream.codec_context.name
    assert name == {'.mov': 'prores', '.webm': 'vp9'}[ext]
    alphas = decoded_alpha(out)
    assert len(alphas) == 8
    errors = np.array([np.abs(a.astype(int) - f[..., 3])
                       for a, f in zip(alphas, frames)])
    assert errors.max() <= TOLERANCE[ext][0]
    assert errors.mean() <= TOLERANCE[ext][1]
    # the matte is really there: transparent and opaque pixels both
    assert alphas[0].min() <= 2 and alphas[0].max() >= 253


def test_rgba_png_sequence_is_exact(tmp_path):
    writer = AtomicVideoWriter(str(tmp_path / 'frames'), png=True,
                               alpha=True)
    frames = [bgra(i) for i in range(3)]
    for frame in frames:
        writer.write(frame)
    folder = writer.close()
    for i, frame in enumerate(frames):
        back = cv2.imread(f'{folder}/{i:05d}.png', cv2.IMREAD_UNCHANGED)
        assert np.array_equal(back, frame)


@pytest.mark.parametrize('ext', ['.mp4', '.avi', '.mkv'])
def test_alpha_in_a_container_without_alpha_is_one_error(tmp_path, ext):
    out = tmp_path / f'matte{ext}'
    with pytest.raises(ValueError) as err:
        AtomicVideoWriter(str(out), alpha=True)
    assert str(err.value) == (
        f'{out}: a {ext} video cannot carry an alpha channel; name it .mov '
        '(ProRes 4444) or .webm (VP9), or write a PNG sequence (RGBA PNGs)')
    assert not list(tmp_path.iterdir())


def test_alpha_writer_takes_bgra_frames_only(tmp_path):
    writer = AtomicVideoWriter(str(tmp_path / 'm.mov'), alpha=True)
    with pytest.raises(ValueError, match=r'm.mov: frame 0 is uint8 of shape '
                       r'\(48, 64, 3\); expected uint8 \(H, W, 4\) BGRA'):
        writer.write(bgra(0)[..., :3])
    writer.abort()
    with pytest.raises(ValueError, match=r'm.mov: a video with alpha is '
                       r'ProRes 4444 \(.mov\) or VP9 \(.webm\), not h264'):
        AtomicVideoWriter(str(tmp_path / 'm.mov'), alpha=True, codec='h264')
    assert not list(tmp_path.iterdir())


def test_encoders_cover_the_alpha_containers():
    assert tuple(ALPHA_ENCODERS) == ALPHA_VIDEO_SUFFIXES
    assert [(e.encoder, e.pix_fmt) for e in ALPHA_ENCODERS.values()] == [
        ('prores_ks', 'yuva444p10le'), ('libvpx-vp9', 'yuva420p')]
    for enc in ALPHA_ENCODERS.values():  # this PyAV wheel has them all
        codec = av.codec.Codec(enc.encoder, 'w')
        assert enc.pix_fmt in [f.name for f in codec.video_formats]
