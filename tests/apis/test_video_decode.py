"""PyAV decoding of video files: exact counts and rates, the probe,
rotation as OpenCV applies it, colours as OpenCV decodes them, and
truncated Matroska / WebM (which declare no frame count)."""
import os.path as osp
from fractions import Fraction

import av
import numpy as np
import pytest

from mmseg_pdnet.apis.video_decode import open_source, probe_video
from mmseg_pdnet.apis.video_errors import (IncompleteVideoError,
                                           VideoIOWarning)
from tests.apis.test_video_io import read_all
from tests.helpers import ROOT

ROTATED = osp.join(ROOT, 'tests', 'data', 'rotated_90.mp4')


def textured(i, h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([(xx * 3 + 7 * i) % 256, yy * 4,
                      (xx + yy + 11 * i) % 256]).astype(np.uint8)


def write(path, n, codec='libx264', rate=Fraction(30000, 1001)):
    with av.open(str(path), 'w') as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = 64, 48, 'yuv420p'
        for i in range(n):
            c.mux(s.encode(av.VideoFrame.from_ndarray(textured(i),
                                                      format='bgr24')))
        c.mux(s.encode(None))
    return path


def test_probe_and_decode_give_the_exact_count_and_rate(tmp_path):
    video = write(tmp_path / 'ntsc.mp4', 13)
    info = probe_video(str(video))
    assert (info.frames, info.estimated_frames) == (13, 13)
    assert info.fps == pytest.approx(30000 / 1001)
    assert info.size == (48, 64) and info.rotation == 0
    assert info.duration == pytest.approx(13 * 1001 / 30000)
    assert not info.has_audio
    frames, total, fps = open_source(str(video))
    got = list(frames)
    assert total == 13 and fps == info.fps and len(got) == 13
    # the same pixels as OpenCV's decoder gives (both convert with swscale)
    reference = read_all(video)
    assert len(reference) == 13
    for ours, theirs in zip(got, reference):
        assert ours.shape == (48, 64, 3) and ours.dtype == np.uint8
        assert np.abs(ours.astype(int) - theirs).mean() < 1


def test_rotation_is_applied_as_opencv_does():
    """rotated_90.mp4 is stored 64x48 with a 90-degree display matrix:
    its frames come out as OpenCV (and players) show them, 48 wide."""
    info = probe_video(ROTATED)
    assert info.rotation == 90 and info.size == (64, 48)
    frames, total, _ = open_source(ROTATED)
    got = list(frames)
    reference = read_all(ROTATED)
    assert total == len(got) == len(reference) == 10
    for ours, theirs in zip(got, reference):
        assert ours.shape == (64, 48, 3)
        assert np.array_equal(ours, theirs)


def test_truncated_webm_is_judged_by_its_duration(tmp_path):
    """WebM declares no frame count; its duration (in the header) implies
    one, and a file cut short decodes fewer."""
    video = write(tmp_path / 'clip.webm', 40, codec='libvpx-vp9', rate=25)
    info = probe_video(str(video))
    assert info.frames is None and info.estimated_frames == 40
    frames, total, _ = open_source(str(video))
    assert total == 40 and len(list(frames)) == 40  # whole: no error
    data = video.read_bytes()
    video.write_bytes(data[:len(data) // 2])
    frames, total, _ = open_source(str(video))
    got = []
    with pytest.raises(IncompleteVideoError) as err:
        for frame in frames:
            got.append(frame)
    assert total == 40 and 0 < len(got) < 39
    assert str(err.value) == (
        f'{video}: only {len(got)} of 40 frames could be decoded (its '
        'duration implies 40; the file is truncated or damaged)')
    frames, _, _ = open_source(str(video), allow_partial=True)
    with pytest.warns(VideoIOWarning, match='keeping the'):
        assert len(list(frames)) == len(got)


@pytest.mark.parametrize('case', ['missing', 'random-bytes', 'no-video'])
def test_unreadable_videos_are_named(tmp_path, case):
    path = tmp_path / 'x.mp4'
    if case == 'random-bytes':
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == 'no-video':  # an audio-only file
        path = tmp_path / 'x.m4a'
        with av.open(str(path), 'w') as c:
            s = c.add_stream('aac', rate=8000)
            s.layout = 'mono'
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 8000), np.float32), format='fltp',
                layout='mono')
            frame.sample_rate = 8000
            c.mux(s.encode(frame))
            c.mux(s.encode(None))
    expected = {
        'missing': (FileNotFoundError, 'video does not exist'),
        'random-bytes': (ValueError, 'not a readable video'),
        'no-video': (ValueError,
                     'not a readable video (it holds no video stream)')
    }[case]
    with pytest.raises(expected[0]) as err:
        open_source(str(path))
    assert str(err.value) == f'{path}: {expected[1]}'
