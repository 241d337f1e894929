import warnings

import cv2
import numpy as np
import pytest

from mmseg_pdnet.apis.video_io import (AtomicVideoWriter, IncompleteVideoError,
                                       VideoIOWarning, open_source)


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
