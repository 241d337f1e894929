"""Hostile inputs, swept over the tools: each case is answered with one
line naming the file (or value) and the right exit status, and leaves no
output behind. docs/robustness.md tabulates the messages."""
import fractions
import os
import os.path as osp
import shutil
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest

from mmseg_pdnet.datasets.image_io import MAX_IMAGE_PIXELS
from mmseg_pdnet.datasets.synthetic import make_demo_dataset
from tests.helpers import (DEMO_CONFIG, ROOT, make_tiny_data,
                           write_tiny_config)

AS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0

# ------------------------------------------------------------ generators


def _png_chunk(kind, data):
    return (struct.pack('>I', len(data)) + kind + data +
            struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))


def bomb_png(path, w=65535, h=65535):
    """A ~1 KB PNG whose header declares ``w`` x ``h`` 8-bit gray pixels
    (12 GiB as BGR): only its first rows hold data."""
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b'\x00' * (w + 1) * 4)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', ihdr) +
                     _png_chunk(b'IDAT', idat) + _png_chunk(b'IEND', b''))


def write_frame_case(case, path_stem, size=(32, 48)):
    """Write the hostile image ``case`` next to ``path_stem`` (no suffix);
    returns its path."""
    h, w = size
    img = np.dstack([np.full((h, w), v, np.uint8) for v in (40, 90, 160)])
    if case == 'zero-bytes':
        path = path_stem.with_suffix('.jpg')
        path.write_bytes(b'')
    elif case == 'truncated-jpeg':
        path = path_stem.with_suffix('.jpg')
        cv2.imwrite(str(path), img)
        path.write_bytes(path.read_bytes()[:200])
    elif case == 'truncated-png':
        path = path_stem.with_suffix('.png')
        cv2.imwrite(str(path), img)
        path.write_bytes(path.read_bytes()[:60])
    elif case == 'bomb-png':
        path = path_stem.with_suffix('.png')
        bomb_png(path)
    elif case == '16-bit-png':
        path = path_stem.with_suffix('.png')
        cv2.imwrite(str(path), img.astype(np.uint16) * 257)
    elif case == 'cmyk-jpeg':
        from PIL import Image
        path = path_stem.with_suffix('.jpg')
        Image.new('CMYK', (w, h), (10, 20, 30, 40)).save(path)
    else:
        raise KeyError(case)
    return path


#: case -> what the message says; None: the image is accepted
FRAME_CASES = {
    'zero-bytes': 'file is empty',
    'truncated-jpeg': 'truncated JPEG (no end-of-image marker)',
    'truncated-png': 'truncated PNG (no IEND chunk)',
    'bomb-png': (f'image header declares 65535x65535 (WxH) = 4294836225 '
                 f'pixels, above the limit of {MAX_IMAGE_PIXELS}'),
    '16-bit-png': None,  # decoded to 8 bits
    'cmyk-jpeg': None,  # converted to BGR by the decoder
}


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ''


# ------------------------------------------------------------ fixtures


@pytest.fixture
def infer(load_tool, capsys, tiny_model_files):
    tool = load_tool('infer_video.py')
    cfg, ckpt = tiny_model_files

    def call(source, *args, config=None, checkpoint=None):
        code = tool.main([str(source), config or cfg, checkpoint or ckpt] +
                         [str(a) for a in args])
        return code, capsys.readouterr()

    return call


@pytest.fixture
def check_dataset(run_tool):
    return run_tool('misc/check_dataset.py')


@pytest.fixture
def demo(tmp_path):
    root = tmp_path / 'data'
    make_demo_dataset(str(root), train_clips=1, test_clips=1, min_frames=3,
                      max_frames=3, height=32, width=48)
    return root


# ------------------------------------------------------- frames and images


@pytest.mark.parametrize('case', list(FRAME_CASES))
def test_frame_in_check_dataset(case, demo, check_dataset):
    clip = demo / 'Keyframes/480p/train_000'
    (clip / '00001.jpg').unlink()
    path = write_frame_case(case, clip / '00001')
    code, io = check_dataset(demo)
    if FRAME_CASES[case] is None:
        assert code == 0, io.out
        return
    assert code == 1
    assert f'PROBLEM {path}: {FRAME_CASES[case]}' in io.out
    assert '1 problem(s)' in io.out


@pytest.mark.parametrize('case', list(FRAME_CASES))
def test_frame_in_infer_video_folder(case, tmp_path, infer):
    src = tmp_path / 'frames'
    src.mkdir()
    first = write_frame_case('16-bit-png', src / '000')
    shutil.copy(first, src / '001.png')
    path = write_frame_case(case, src / '002')
    out = tmp_path / 'o.mp4'
    code, io = infer(src, '--out', out)
    if FRAME_CASES[case] is None:
        assert code == 0, io.err
        assert out.is_file()
        return
    assert code == 1
    assert last_line(io.err) == (f'infer_video: error: {path}: '
                                 f'{FRAME_CASES[case]}' +
                                 ('; not decoded' if case == 'bomb-png'
                                  else '') + ' (no output written)') \
        or (case == 'bomb-png' and str(path) in last_line(io.err))
    assert not out.exists() and not list(tmp_path.glob('.*partial*'))


@pytest.mark.parametrize('case', list(FRAME_CASES))
def test_frame_as_infer_video_background(case, tmp_path, infer):
    src = tmp_path / 'frames'
    src.mkdir()
    write_frame_case('16-bit-png', src / '000')
    background = write_frame_case(case, tmp_path / 'background')
    out = tmp_path / 'o.mp4'
    code, io = infer(src, '--out', out, '--output-type', 'background',
                     '--background', background)
    if FRAME_CASES[case] is None:
        assert code == 0, io.err
        return
    assert code == 1
    line = last_line(io.err)
    assert line.startswith(f'infer_video: error: --background {background}: '
                           f'{FRAME_CASES[case]}')
    assert line.endswith('(no output written)') and not out.exists()


@pytest.mark.parametrize('case', ['zero-bytes', 'truncated-png', 'bomb-png',
                                  '16-bit-png'])
@pytest.mark.parametrize('side', ['gt', 'pred'])
def test_mask_file_in_eval_masks(case, side, tmp_path, load_tool, capsys):
    for root in ('gt', 'pred'):
        (tmp_path / root / 'a').mkdir(parents=True)
        for i in range(3):
            m = np.zeros((32, 48), np.uint8)
            m[8:20, 10 + i:30 + i] = 255
            cv2.imwrite(str(tmp_path / root / 'a' / f'{i:05d}.png'), m)
    target = tmp_path / side / 'a' / '00001.png'
    target.unlink()
    if case == 'zero-bytes':  # masks are PNGs
        target.write_bytes(b'')
    elif case == '16-bit-png':  # a one-channel 16-bit mask, 0/65535
        m = np.zeros((32, 48), np.uint16)
        m[8:20, 10:30] = 65535
        cv2.imwrite(str(target), m)
    path = target if case in ('zero-bytes', '16-bit-png') else \
        write_frame_case(case, target.with_suffix(''))
    assert path == target
    js = tmp_path / 'r.json'
    code = load_tool('eval_masks.py').main([
        '--gt-root', str(tmp_path / 'gt'), '--pred-root',
        str(tmp_path / 'pred'), '--json', str(js)])
    io = capsys.readouterr()
    if case == '16-bit-png' and side == 'gt':  # any value > 0 counts
        assert code == 0, io.err
        return
    expected = {'16-bit-png': "expected an 8-bit mask PNG, got PIL mode "
                "'I;16'"}.get(case, FRAME_CASES[case])
    if side == 'pred' and case in ('zero-bytes', 'truncated-png'):
        expected = 'not a readable image'  # PIL's reason follows
    assert code == 1 and io.out == ''
    line = last_line(io.err)
    assert line.startswith(f'eval_masks: error: {path}: ') and \
        expected in line, line
    assert len(io.err.strip().splitlines()) == 1 and not js.exists()


# ---------------------------------------------------------------- videos


def write_video(path, n=6, pts=None, size=(48, 64)):
    """An H.264 MP4 through PyAV; ``pts`` (ms) irregular for a variable
    frame rate."""
    av = pytest.importorskip('av')
    with av.open(str(path), 'w') as c:
        s = c.add_stream('libx264', rate=25)
        s.height, s.width = size
        s.pix_fmt = 'yuv420p'
        s.time_base = s.codec_context.time_base = fractions.Fraction(1, 1000)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(
                np.full(size + (3, ), 40 * i % 255, np.uint8),
                format='bgr24')
            f.pts, f.time_base = (pts[i] if pts else 40 * i), s.time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_video_of_random_bytes(tmp_path, infer):
    video = tmp_path / 'random.mp4'
    video.write_bytes(np.random.default_rng(0).bytes(4096))
    out = tmp_path / 'o.mp4'
    code, io = infer(video, '--out', out)
    assert code == 1 and last_line(io.err) == (
        f'infer_video: error: {video}: not a readable video (no output '
        'written)')
    assert not out.exists()


def test_video_of_zero_frames(tmp_path, infer):
    video = tmp_path / 'empty.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'),
                             25, (32, 32))
    writer.release()
    out = tmp_path / 'o.mp4'
    code, io = infer(video, '--out', out)
    assert code == 1 and str(video) in last_line(io.err)
    assert last_line(io.err).endswith('(no output written)')
    assert not out.exists()


def test_variable_frame_rate_video_keeps_every_frame(tmp_path, infer):
    video = write_video(tmp_path / 'vfr.mp4', pts=[0, 40, 50, 200, 210, 400])
    out = tmp_path / 'o.mp4'
    code, io = infer(video, '--out', out)
    assert code == 0, io.err
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_rotated_video_is_segmented_upright(tmp_path, infer):
    """A phone clip stored as 64x48 with a 90-degree display matrix
    (tests/data/rotated_90.mp4: 10 frames, made with FFmpeg 5.1,
    ``-c copy -metadata:s:v:0 rotate=90``; PyAV cannot write the matrix).
    The frames are decoded as displayed (48 wide, 64 high), segmented so,
    and written upright."""
    av = pytest.importorskip('av')
    video = osp.join(ROOT, 'tests', 'data', 'rotated_90.mp4')
    with av.open(video) as container:
        assert container.streams.video[0].codec_context.width == 64
        assert next(container.decode(video=0)).rotation == 90
    out = tmp_path / 'o.mp4'
    code, io = infer(video, '--out', out)
    assert code == 0, io.err
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    assert ok and frame.shape == (64, 48, 3)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10


# ------------------------------------------------------------ checkpoints


@pytest.mark.parametrize('case', ['zero-bytes', 'truncated'])
def test_broken_checkpoint(case, tmp_path, infer, tiny_model_files,
                           load_tool, capsys):
    ckpt = tmp_path / 'broken.pth'
    data = open(tiny_model_files[1], 'rb').read()
    ckpt.write_bytes(b'' if case == 'zero-bytes' else data[:len(data) // 2])
    src = tmp_path / 'frames'
    src.mkdir()
    write_frame_case('16-bit-png', src / '000')
    out = tmp_path / 'o.mp4'
    code, io = infer(src, '--out', out, checkpoint=str(ckpt))
    line = last_line(io.err)
    assert code == 1 and line.startswith(f'infer_video: error: {ckpt}: ')
    assert line.endswith('(no output written)') and not out.exists()
    code = load_tool('deployment/export_onnx.py').main([
        tiny_model_files[0], str(ckpt), '--out-dir', str(tmp_path / 'onnx'),
        '--size', '64', '64'])
    err = capsys.readouterr().err
    assert code == 1 and last_line(err).startswith(
        f'export_onnx: error: {ckpt}: ')
    assert not list((tmp_path / 'onnx').glob('*.onnx')) if (
        tmp_path / 'onnx').exists() else True


# ---------------------------------------------------------------- configs

CONFIG_CASES = {
    'empty': ('', 'config is empty (no model, datasets or schedule)'),
    'model-key': ("model = dict(decode_head=dict(treshold=0.5))",
                  "model.decode_head.treshold: PDFusionHead takes no "
                  "argument 'treshold' (did you mean 'threshold'?)"),
    'top-level': ('max_epoch = 50',
                  "top-level key 'max_epoch' is not a runner setting (did "
                  'you mean train_cfg.max_epochs?); MMEngine would ignore it'),
    'loop-key': ('train_cfg = dict(max_epoch=50)',
                 "train_cfg.max_epoch: AlternatingImageVideoLoop takes no "
                 "argument 'max_epoch' (did you mean 'max_epochs'?)"),
}


@pytest.mark.parametrize('case', list(CONFIG_CASES))
@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_config_mistakes(case, tool, tmp_path, load_tool):
    text, message = CONFIG_CASES[case]
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('' if case == 'empty' else
                   f"_base_ = ['{DEMO_CONFIG}']\n{text}\n")
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'x')
    argv = [str(cfg)] + ([str(ckpt)] if tool == 'test.py' else [])
    with pytest.raises(SystemExit) as err:
        load_tool(tool).main(argv + ['--work-dir', str(tmp_path / 'w')])
    assert err.value.code == f'{tool}: error: {cfg}: {message}'


def test_config_mistake_in_infer_video(tmp_path, infer):
    cfg = tmp_path / 'empty.py'
    cfg.write_text('')
    out = tmp_path / 'o.mp4'
    code, io = infer(tmp_path, '--out', out, config=str(cfg))
    assert code == 1 and last_line(io.err) == (
        f'infer_video: error: {cfg}: {CONFIG_CASES["empty"][1]} (no output '
        'written)')


# ------------------------------------------------------- dataset layouts


def _break(root, case):
    """Make the tiny dataset ``root`` hostile; returns the expected
    problem (as check_dataset prints it, without ``PROBLEM``)."""
    kf, ann = root / 'Keyframes/480p', root / 'Annotations/480p'
    clip = sorted(p.name for p in kf.iterdir())[0]
    if case == 'mixed-sizes':
        path = kf / clip / '00001.jpg'
        cv2.imwrite(str(path), np.zeros((32, 48, 3), np.uint8))
        cv2.imwrite(str(ann / clip / '00001.png'),
                    np.zeros((32, 48), np.uint8))
        return (f'{path}: frame size (32, 48) differs from the first frame '
                f'of its clip {kf / clip / "00000.jpg"} (64, 96)')
    if case == 'empty-clip':
        shutil.rmtree(kf / clip)  # its masks are kept
        (kf / clip).mkdir()
        return f'{kf / clip}: holds no frames'
    if case == 'unknown-category':
        cats = root / 'ImageSets/categories.txt'
        lines = cats.read_text().splitlines()
        lines[0] = lines[0].split()[0] + ' interveiw'
        cats.write_text('\n'.join(lines) + '\n')
        return f"{cats}:1: unknown category 'interveiw'"
    if case == '16-bit-mask':
        path = ann / clip / '00002.png'
        mask = (cv2.imread(str(path), cv2.IMREAD_UNCHANGED) > 0).astype(
            np.uint16) * 1000
        cv2.imwrite(str(path), mask)
        return f'{path}: mask value 1000 is above 255 (uint16 image)'
    raise KeyError(case)


#: case -> what test.py says (after ``test.py: error: ``)
DATASET_ERRORS = {
    'mixed-sizes': 'reference frame size',
    'empty-clip': 'holds no frames',
    'unknown-category': "unknown category 'interveiw' (did you mean "
                        "'interview'?)",
    '16-bit-mask': 'mask value 1000 is above 255 (uint16 image)',
}


@pytest.mark.parametrize('case', list(DATASET_ERRORS))
def test_dataset_cases_in_check_dataset(case, tmp_path, check_dataset):
    root = make_tiny_data(str(tmp_path / 'data'), frames=3)
    problem = _break(tmp_path / 'data', case)
    code, io = check_dataset(root)
    assert code == 1 and f'PROBLEM {problem}' in io.out, io.out


@pytest.mark.parametrize('case', list(DATASET_ERRORS))
def test_dataset_cases_in_test_tool(case, tmp_path, load_tool):
    root = make_tiny_data(str(tmp_path / 'data'), frames=3)
    _break(tmp_path / 'data', case)
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), root)
    ckpt = tmp_path / 'x.pth'  # the dataset fails before it is loaded
    ckpt.write_bytes(b'x')
    with pytest.raises(SystemExit) as err:
        load_tool('test.py').main([cfg, str(ckpt), '--work-dir',
                                   str(tmp_path / 'w')])
    message = err.value.code
    assert isinstance(message, str) and '\n' not in message
    assert message.startswith('test.py: error: ') and \
        DATASET_ERRORS[case] in message, message


def _soften(root):
    """A band of 128 around every portrait (an anti-aliased export)."""
    for path in (root / 'Annotations/480p').rglob('*.png'):
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        band = cv2.dilate(m, np.ones((5, 5), np.uint8)) > m
        m[band] = 128
        cv2.imwrite(str(path), m)


def test_soft_masks_warn_once_per_dataset(tmp_path):
    from mmseg_pdnet.datasets import MVPSDataset
    from mmseg_pdnet.datasets.validation import MaskValueWarning
    root = make_tiny_data(str(tmp_path / 'data'), frames=3)
    _soften(tmp_path / 'data')
    for split in ('train', 'val'):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            MVPSDataset(data_root=root, split=split, pipeline=[])
        soft = [w for w in caught if w.category is MaskValueWarning]
        assert len(soft) == 1, [str(w.message) for w in caught]
        message = str(soft[0].message)
        assert '\n' not in message and '128: ' in message
        assert 'training uses them as fractional targets' in message


def test_soft_masks_check_dataset_warns(tmp_path, check_dataset):
    root = make_tiny_data(str(tmp_path / 'data'), frames=3)
    _soften(tmp_path / 'data')
    code, io = check_dataset(root)
    assert code == 0 and 'WARNING' in io.out and '128: ' in io.out
    code, io = check_dataset(root, '--strict')
    assert code == 1


# ------------------------------------------- output folders of the tools


@pytest.mark.parametrize('flag', ['--out', '--show-dir'])
def test_test_tool_refuses_unwritable_output_folders(flag, tmp_path,
                                                     load_tool):
    root = make_tiny_data(str(tmp_path / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), root)
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'x')
    (tmp_path / 'file.txt').write_text('x')
    bad = tmp_path / 'file.txt' / 'masks'
    with pytest.raises(SystemExit) as err:
        load_tool('test.py').main([cfg, str(ckpt), flag, str(bad),
                                   '--work-dir', str(tmp_path / 'w')])
    assert err.value.code == (f'test.py: error: {flag} {bad}: '
                              f'{tmp_path / "file.txt"} is a file, not a '
                              'folder')


def test_export_onnx_refuses_an_unwritable_folder(tmp_path, load_tool,
                                                  capsys, tiny_model_files):
    (tmp_path / 'file.txt').write_text('x')
    bad = tmp_path / 'file.txt' / 'onnx'
    code = load_tool('deployment/export_onnx.py').main(
        list(tiny_model_files) + ['--out-dir', str(bad)])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f'export_onnx: error: --out-dir {bad}: {tmp_path / "file.txt"} is a '
        'file, not a folder')


@pytest.mark.skipif(AS_ROOT, reason='running as root, for whom a 0o555 '
                    'folder is writable (the file-as-folder tests cover the '
                    'refusal)')
def test_export_onnx_refuses_a_read_only_folder(tmp_path, load_tool, capsys,
                                                tiny_model_files):
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    code = load_tool('deployment/export_onnx.py').main(
        list(tiny_model_files) + ['--out-dir', str(ro / 'onnx')])
    assert code == 1 and 'cannot write in' in capsys.readouterr().err
