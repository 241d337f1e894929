import cv2
import numpy as np
import pytest

from tests.apis.conftest import carphone, tiny_model_files  # noqa: F401
from tests.apis.test_video_io import make_truncated_video


@pytest.fixture
def infer(load_tool, capsys, tiny_model_files):  # noqa: F811
    tool = load_tool('infer_video.py')
    cfg, ckpt = tiny_model_files

    def call(*args, source=None, ckpt_path=None):
        paths = ([] if source is None else [str(source)]) + [
            cfg, ckpt_path or ckpt]
        code = tool.main(paths + [str(a) for a in args])
        return code, capsys.readouterr()

    return call


def count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n, size = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            return n, size
        n, size = n + 1, frame.shape[:2]


@pytest.mark.parametrize('kind', ['overlay', 'background'])
def test_real_footage_to_mp4(infer, carphone, tmp_path, kind):  # noqa: F811
    out = tmp_path / f'{kind}.mp4'
    sheet = tmp_path / 'sheet.png'
    code, io = infer('--out', out, '--output-type', kind, '--background',
                     '#00B140', '--max-frames', 12, '--save-parts',
                     '--contact-sheet', sheet, source=carphone)
    assert code == 0, io.err
    assert count_frames(out) == (12, (144, 176))
    assert count_frames(tmp_path / f'{kind}_parts.mp4') == (12, (144, 176))
    assert cv2.imread(str(sheet)).shape[1] == 3 * 240
    assert f'wrote {out}' in io.out and 'frames/s' in io.err


def test_png_sequence_of_masks(infer, tmp_path):
    src = tmp_path / 'frames'
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f'{i:03d}.jpg'), np.full((40, 60, 3), 90 + i,
                                                      np.uint8))
    out = tmp_path / 'masks'
    code, io = infer('--out', out, '--png', '--output-type', 'mask',
                     source=src)
    assert code == 0, io.err
    pngs = sorted(out.iterdir())
    assert [p.name for p in pngs] == ['00000.png', '00001.png', '00002.png']
    assert set(np.unique(cv2.imread(str(pngs[0])))) <= {0, 255}


@pytest.mark.parametrize('amp', [[], ['bf16']])
def test_amp_and_channels_last_flags(infer, load_tool, carphone,  # noqa: F811
                                     tmp_path, amp):
    out = tmp_path / 'amp.mp4'
    code, io = infer('--out', out, '--max-frames', 3, '--channels-last',
                     '--amp', *amp, source=carphone)
    assert code == 0, io.err
    assert count_frames(out) == (3, (144, 176))
    tool = load_tool('infer_video.py')
    with pytest.raises(SystemExit):
        tool.parse_args(['in.mp4', 'cfg.py', 'ckpt.pth', '--out', 'o.mp4',
                         '--amp', 'fp8'])


def assert_failed_cleanly(code, io, out, message):
    assert code == 1
    assert message in io.err and 'no output written' in io.err
    assert len(io.err.strip().splitlines()[-1]) < 400
    assert not out.exists()
    assert not list(out.parent.glob('.*partial*'))


def test_missing_video(infer, tmp_path):
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=tmp_path / 'none.mp4')
    assert_failed_cleanly(code, io, out, 'none.mp4: video does not exist')


def test_unreadable_and_zero_frame_videos(infer, tmp_path):
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'\x00' * 100)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=junk)
    assert_failed_cleanly(code, io, out, 'junk.mp4')
    empty = tmp_path / 'empty.mp4'
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*'mp4v'), 25,
                             (32, 32))
    writer.release()
    code, io = infer('--out', out, source=empty)
    assert_failed_cleanly(code, io, out, 'empty.mp4')


def test_frame_size_change_mid_stream(infer, tmp_path):
    src = tmp_path / 'frames'
    src.mkdir()
    cv2.imwrite(str(src / '0.png'), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(src / '1.png'), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(src / '2.png'), np.zeros((30, 60, 3), np.uint8))
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=src)
    assert_failed_cleanly(
        code, io, out, f'{src / "2.png"}: frame size (30, 60) differs from '
        f'the first frame {src / "0.png"} (40, 60)')


def test_checkpoint_not_matching_config(infer, tmp_path,
                                        tiny_model_files):  # noqa: F811
    import torch
    state = torch.load(tiny_model_files[1])['state_dict']
    state.pop('decode_head.conv_seg.bias')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=tmp_path, ckpt_path=str(bad))
    assert_failed_cleanly(code, io, out, 'does not match')


def test_missing_camera(infer, tmp_path):
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--camera', 7)
    assert_failed_cleanly(code, io, out, 'camera 7: could not be opened')


def test_truncated_video_fails_unless_allowed(infer, tmp_path):
    video = tmp_path / 'cut.avi'
    decoded = make_truncated_video(video)  # of 20 declared
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=video)
    assert_failed_cleanly(
        code, io, out,
        f'{video}: only {decoded} of 20 frames could be decoded (the '
        'container declares 20; the file is truncated or damaged); '
        f'--allow-partial writes the {decoded} decoded frames')
    code, io = infer('--out', out, '--allow-partial', source=video)
    assert code == 0, io.err
    assert (f'infer_video: warning: {video}: only {decoded} of 20 frames '
            f'could be decoded') in io.err
    assert f'keeping the {decoded} decoded frames' in io.err
    assert f'wrote {out}' in io.out
    assert count_frames(out) == (decoded, (48, 64))
    # stopping before the cut is not partial
    code, io = infer('--out', out, '--max-frames', 2, source=video)
    assert code == 0 and 'warning' not in io.err, io.err


def test_odd_frame_size(infer, tmp_path):
    """MP4: padded to even size with a warning; PNG: exact."""
    src = tmp_path / 'frames'
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f'{i}.png'),
                    np.full((25, 33, 3), 90 + i, np.uint8))
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=src)
    assert code == 0, io.err
    assert (f'infer_video: warning: {out}: frames are 33x25 (WxH) but the '
            'MP4 encoder needs even sizes: writing 34x26, the last '
            'column/row repeated') in io.err
    assert count_frames(out) == (3, (26, 34))
    code, io = infer('--out', tmp_path / 'pngs', '--png', source=src)
    assert code == 0 and 'warning' not in io.err, io.err
    assert cv2.imread(str(tmp_path / 'pngs/00002.png')).shape == (25, 33, 3)
