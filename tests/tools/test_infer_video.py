import io as _io
import os
import threading

import cv2
import numpy as np
import pytest
import torch

from mmseg_pdnet.apis import video_io, video_outputs
from tests.apis.test_preview import xvfb  # noqa: F401  (a fixture)
from tests.apis.test_video_io import make_truncated_video, video_codec


@pytest.fixture
def infer(load_tool, capsys, tiny_model_files):
    tool = load_tool('infer_video.py')
    cfg, ckpt = tiny_model_files

    def call(*args, source=None, ckpt_path=None):
        paths = ([] if source is None else [str(source)]) + [
            cfg, ckpt_path or ckpt]
        code = tool.main(paths + [str(a) for a in args])
        return code, capsys.readouterr()

    call.tool = tool  # the module instance, to patch
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
def test_real_footage_to_mp4(infer, carphone, tmp_path, kind):
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
        cv2.imwrite(str(src / f'{i:03d}.jpg'),
                    np.full((40, 60, 3), 90 + i, np.uint8))
    out = tmp_path / 'masks'
    code, io = infer('--out', out, '--png', '--output-type', 'mask',
                     source=src)
    assert code == 0, io.err
    pngs = sorted(out.iterdir())
    assert [p.name for p in pngs] == ['00000.png', '00001.png', '00002.png']
    assert set(np.unique(cv2.imread(str(pngs[0])))) <= {0, 255}


@pytest.mark.parametrize('amp', [[], ['bf16']])
def test_amp_and_channels_last_flags(infer, load_tool, carphone,
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
                                        tiny_model_files):
    import torch
    state = torch.load(tiny_model_files[1])['state_dict']
    state.pop('decode_head.conv_seg.bias')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=frame_folder(tmp_path / 'frames',
                                                       n=2),
                     ckpt_path=str(bad))
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


def frame_folder(folder, n=6, size=(48, 64)):
    """``n`` distinct frames: a bright square moving over a gradient."""
    folder.mkdir()
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        frame = np.dstack([xx * 3, yy * 4, np.full_like(xx, 60)]).astype(
            np.uint8)
        frame[10:30, 5 + 4 * i:25 + 4 * i] = 230
        cv2.imwrite(str(folder / f'{i:03d}.png'), frame)
    return folder


def io_threads():
    return [t for t in threading.enumerate()
            if t.name in ('frame-reader', 'frame-writer')]


def test_threaded_output_equals_sequential(infer, tmp_path,
                                           tiny_model_files):
    """Decoding and encoding in threads: same frames, same order."""
    from mmseg_pdnet.apis import VideoPortraitInferencer, render
    src = frame_folder(tmp_path / 'frames', n=6)
    out = tmp_path / 'alpha'
    code, io = infer('--out', out, '--png', '--output-type', 'alpha',
                     source=src)
    assert code == 0, io.err
    # the tool's defaults: the temporal filter on
    inferencer = VideoPortraitInferencer(*tiny_model_files, device='cpu',
                                         temporal_filter=True)
    expected = [render('alpha', r.frame, r.mask, r.prob)
                for r in inferencer(str(src))]
    written = [cv2.imread(str(out / f'{i:05d}.png')) for i in range(6)]
    assert len(list(out.iterdir())) == 6
    for i, (got, want) in enumerate(zip(written, expected)):
        np.testing.assert_array_equal(got, want, err_msg=f'frame {i}')
    assert not io_threads()


def test_writer_error_mid_stream_fails_cleanly(infer, tmp_path,
                                               monkeypatch):
    src = frame_folder(tmp_path / 'frames', n=8)
    real_render, calls = video_outputs.render, []

    def render(*args):
        calls.append(1)
        if len(calls) == 4:
            raise OSError('out.mp4: no space left on device')
        return real_render(*args)

    monkeypatch.setattr(video_outputs, 'render', render)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--save-parts', source=src)
    assert_failed_cleanly(code, io, out, 'no space left on device')
    assert not (tmp_path / 'o_parts.mp4').exists()
    assert not io_threads()


def test_ctrl_c_removes_the_partial_output(infer, tmp_path, monkeypatch):
    src = frame_folder(tmp_path / 'frames', n=8)
    real_update = infer.tool.Progress.update

    def update(self, done):
        if done == 3:
            raise KeyboardInterrupt
        real_update(self, done)

    monkeypatch.setattr(infer.tool.Progress, 'update', update)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=src)
    assert code == 130
    assert io.err.strip().splitlines()[-1] == (
        'infer_video: error: interrupted (no output written)')
    assert not out.exists() and not list(tmp_path.glob('.*partial*'))
    assert not io_threads()


def test_progress_without_a_terminal_prints_plain_lines(load_tool):
    tool = load_tool('infer_video.py')
    stream = _io.StringIO()  # a log file: not a terminal
    progress = tool.Progress(total=7, stream=stream, every=3)
    for done in range(1, 8):
        progress.update(done)
    progress.finish()
    lines = stream.getvalue().split('\n')
    assert '\r' not in stream.getvalue()
    firsts = [line.split(' ')[0] for line in lines[:3]]
    assert firsts == ['3/7', '6/7', '7']
    assert all('frames/s' in line for line in lines[:3])
    assert lines[2].startswith('7 frames in ') and lines[3] == ''

    class Terminal(_io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    progress = tool.Progress(total=7, stream=tty, every=3)
    progress.update(1)
    progress.finish()
    assert tty.getvalue().startswith('\r1/7 frames, ')
    assert tty.getvalue().count('\n') == 1


def test_max_frames_must_be_positive(load_tool, capsys):
    tool = load_tool('infer_video.py')
    for bad in ('0', '-2'):
        with pytest.raises(SystemExit) as err:
            tool.parse_args(['in.mp4', 'c.py', 'k.pth', '--out', 'o.mp4',
                             '--max-frames', bad])
        assert err.value.code == 2
        assert (f'argument --max-frames: expected an integer >= 1, got '
                f'{int(bad)}') in capsys.readouterr().err


def test_png_output_to_a_video_name_is_refused(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=2)
    out = tmp_path / 'x.mp4'
    code, io = infer('--out', out, '--png', source=src)
    assert_failed_cleanly(code, io, out,
                          f'{out}: a PNG sequence is written to a folder; '
                          'give a folder path')


@pytest.mark.skipif(torch.cuda.is_available(), reason='a machine without '
                    'CUDA')
def test_cuda_device_without_cuda_is_one_line(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=2)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--device', 'cuda', source=src)
    assert code == 1
    assert io.err.strip().splitlines() == [
        'infer_video: error: --device cuda: CUDA is not available (this '
        'PyTorch is built without CUDA); use --device cpu (no output '
        'written)'] or 'finds no CUDA GPU' in io.err
    assert len(io.err.strip().splitlines()) == 1 and not out.exists()
    # --compile (CUDA graphs) needs CUDA too
    code, io = infer('--out', out, '--compile', source=src)
    assert code == 1
    assert io.err.strip().splitlines() == [
        'infer_video: error: --compile needs a CUDA device, but the run '
        'would use cpu (CUDA is not available); drop --compile (no output '
        'written)']


def test_compile_flag_is_documented(load_tool):
    tool = load_tool('infer_video.py')
    assert tool.parse_args(['a.mp4', 'c.py', 'k.pth', '--out', 'o.mp4',
                            '--compile']).compile is True
    assert '--compile ' in tool.build_parser().format_help()


def test_swapped_config_and_checkpoint(infer, tmp_path, capsys,
                                       tiny_model_files):
    cfg, ckpt = tiny_model_files
    src = frame_folder(tmp_path / 'frames', n=2)
    out = tmp_path / 'o.mp4'
    code = infer.tool.main([str(src), ckpt, cfg, '--out', str(out)])
    io = capsys.readouterr()
    assert_failed_cleanly(
        code, io, out,
        f'infer_video: error: {ckpt}: not a config file '
        '(.py/.json/.yaml/.yml) but a checkpoint (arguments in the wrong '
        'order?); usage: infer_video.py INPUT CONFIG CHECKPOINT --out PATH')
    assert len(io.err.strip().splitlines()) == 1


def test_contact_sheet_covers_the_whole_clip(infer, tmp_path, monkeypatch):
    src = frame_folder(tmp_path / 'frames', n=20)
    real_sheet, labels = video_outputs.contact_sheet, []

    def contact_sheet(rows, path, **kwargs):
        labels.extend(kwargs['labels'])
        return real_sheet(rows, path, **kwargs)

    monkeypatch.setattr(video_outputs, 'contact_sheet', contact_sheet)
    sheet = tmp_path / 'sheet.png'
    code, io = infer('--out', tmp_path / 'o.mp4', '--contact-sheet', sheet,
                     source=src)
    assert code == 0, io.err
    # 8 of the 20 frames, spread from the first to the last but one (the
    # sampler's stride is 2 then)
    assert labels == [f'frame {i}' for i in (0, 2, 6, 8, 10, 12, 16, 18)]
    # 8 rows of 240x180 tiles: frame, overlay, parts
    assert cv2.imread(str(sheet)).shape == (8 * 180, 3 * 240, 3)
    assert f'wrote {sheet}' in io.out


def test_codec_choice_and_fallback_note(infer, tmp_path, monkeypatch):
    src = frame_folder(tmp_path / 'frames', n=3)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--codec', 'mp4v', source=src)
    assert code == 0 and 'note' not in io.err, io.err
    assert video_codec(out) == 'fmp4'
    monkeypatch.setattr(video_io, 'h264_unavailable',
                        lambda: 'PyAV is not installed (pip install av)')
    code, io = infer('--out', out, source=src)
    assert code == 0, io.err
    assert (f'infer_video: note: {out}: writing MPEG-4 Part 2 (mp4v), which '
            'most browsers do not play: for H.264, PyAV is not installed '
            '(pip install av)') in io.err
    assert video_codec(out) == 'fmp4' and count_frames(out)[0] == 3
    h264 = tmp_path / 'h264.mp4'
    code, io = infer('--out', h264, '--codec', 'h264', source=src)
    assert_failed_cleanly(code, io, h264,
                          'cannot write H.264: PyAV is not installed')


@pytest.mark.skipif(video_io.h264_unavailable() is not None,
                    reason='needs PyAV with libx264 (pip install av)')
def test_default_video_is_h264(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=3)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, source=src)
    assert code == 0 and 'note' not in io.err, io.err
    assert video_codec(out) == 'h264' and count_frames(out) == (3, (48, 64))


def test_contact_sheet_into_a_missing_folder_is_created(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=2)
    out = tmp_path / 'o.mp4'
    sheet = tmp_path / 'no such folder' / 'sheet.png'
    code, io = infer('--out', out, '--contact-sheet', sheet, '--save-parts',
                     source=src)
    assert code == 0, io.err
    assert sheet.is_file() and out.is_file()
    assert (tmp_path / 'o_parts.mp4').is_file()
    assert f'wrote {sheet}' in io.out


#: root writes into 0o555 folders: the read-only case needs a real user
AS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.mark.parametrize('flag', ['--contact-sheet', '--out', '--png-out',
                                  '--save-parts'])
@pytest.mark.parametrize('how', ['under-a-file', 'read-only'])
def test_unwritable_outputs_are_refused_before_the_work(infer, tmp_path,
                                                        flag, how):
    if how == 'read-only' and AS_ROOT:
        pytest.skip('running as root, for whom a 0o555 folder is writable '
                    '(the under-a-file case covers the refusal)')
    src = frame_folder(tmp_path / 'frames', n=2)
    if how == 'under-a-file':
        (tmp_path / 'file.txt').write_text('x')
        bad_dir = tmp_path / 'file.txt'
    else:
        bad_dir = tmp_path / 'ro'
        bad_dir.mkdir()
        bad_dir.chmod(0o555)
    out, args = tmp_path / 'o.mp4', []
    if flag == '--contact-sheet':
        args = ['--contact-sheet', bad_dir / 'sheet.png']
    elif flag == '--out':
        out = bad_dir / 'o.mp4'
    elif flag == '--png-out':
        out, args = bad_dir / 'pngs', ['--png']
    else:  # the parts video goes next to --out
        out, args = bad_dir / 'o.mp4', ['--save-parts']
    built = []
    infer.tool.VideoPortraitInferencer = lambda *a, **k: built.append(1)
    code, io = infer('--out', out, *args, source=src)
    assert code == 1 and not built  # refused before the model is built
    line = io.err.strip().splitlines()[-1]
    assert line.startswith('infer_video: error: ') and str(bad_dir) in line
    assert ('is a file, not a folder' if how == 'under-a-file'
            else 'cannot write in') in line
    assert not (tmp_path / 'o.mp4').exists()


def test_late_contact_sheet_failure_keeps_the_videos(infer, tmp_path,
                                                     monkeypatch):
    src = frame_folder(tmp_path / 'frames', n=2)
    out, sheet = tmp_path / 'o.mp4', tmp_path / 'sheet.png'

    def failing_sheet(rows, path, **kwargs):
        raise OSError(f'{path}: could not write the contact sheet (disk '
                      'full)')

    monkeypatch.setattr(video_outputs, 'contact_sheet', failing_sheet)
    code, io = infer('--out', out, '--contact-sheet', sheet, '--save-parts',
                     source=src)
    assert code == 1
    parts = tmp_path / 'o_parts.mp4'
    assert count_frames(out)[0] == 2 and count_frames(parts)[0] == 2
    assert f'wrote {out}' in io.out and f'wrote {parts}' in io.out
    line = io.err.strip().splitlines()[-1]
    assert line == (f'infer_video: error: --contact-sheet: {sheet}: could '
                    'not write the contact sheet (disk full) (kept the '
                    f'finished outputs: {out}, {parts})')


def test_side_by_side_output_is_input_then_overlay(infer, carphone,
                                                   tmp_path):
    out = tmp_path / 'sbs.mp4'
    code, io = infer('--out', out, '--output-type', 'side-by-side',
                     '--max-frames', 3, source=carphone)
    assert code == 0, io.err
    assert count_frames(out) == (3, (144, 2 * 176))


def test_render_side_by_side_panels():
    import numpy as np

    from mmseg_pdnet.apis.compositing import overlay, put_title, render
    frame = np.full((40, 60, 3), 90, np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:40] = 1
    out = render('side-by-side', frame, mask)
    assert out.shape == (40, 120, 3)
    assert np.array_equal(out[:, :60], put_title(frame, 'input'))
    assert np.array_equal(out[:, 60:], put_title(overlay(frame, mask),
                                                 'PDNet'))


# ------------------------------------------------- clips made with PyAV


def write_clip(path, n=6, size=(48, 64), fps=25, tone=False, shift=0):
    """An H.264 clip of ``n`` distinct frames (a square moving over a
    gradient) and, with ``tone``, a 440 Hz AAC tone as long as the video.
    """
    av = pytest.importorskip('av')
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), 'w') as c:
        video = c.add_stream('libx264', rate=fps)
        video.height, video.width, video.pix_fmt = h, w, 'yuv420p'
        audio = c.add_stream('aac', rate=48000, layout='mono') if tone \
            else None
        for i in range(n):
            frame = np.dstack([xx * 3, yy * 4, np.full_like(xx, 60 + shift)
                               ]).astype(np.uint8)
            frame[10:30, 5 + 4 * i:25 + 4 * i] = 230
            for p in video.encode(av.VideoFrame.from_ndarray(
                    frame, format='bgr24')):
                c.mux(p)
        for p in video.encode():
            c.mux(p)
        if audio is not None:
            rate, samples = 48000, round(48000 * n / fps)
            t = np.arange(samples) / rate
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[None, start:start + 1024]
                frame = av.AudioFrame.from_ndarray(chunk, format='fltp',
                                                   layout='mono')
                frame.sample_rate, frame.pts = rate, start
                for p in audio.encode(frame):
                    c.mux(p)
            for p in audio.encode():
                c.mux(p)
    return path


def streams(path):
    """``{kind: [codec name, ...]}`` of a file, read with PyAV."""
    av = pytest.importorskip('av')
    with av.open(str(path)) as c:
        kinds = {}
        for s in c.streams:
            kinds.setdefault(s.type, []).append(s.codec_context.name)
        return kinds


def decoded_seconds(path, kind):
    """Seconds of decoded ``kind`` ('audio' / 'video') in a file."""
    av = pytest.importorskip('av')
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        if kind == 'audio':
            return sum(f.samples for f in c.decode(stream)) / \
                stream.codec_context.sample_rate
        return sum(1 for _ in c.decode(stream)) / float(stream.average_rate)


def expected_results(tiny_model_files, source):
    """What the tiny model gives for ``source``, frame by frame, with the
    tool's defaults (the temporal filter on)."""
    from mmseg_pdnet.apis import VideoPortraitInferencer
    inferencer = VideoPortraitInferencer(*tiny_model_files, device='cpu',
                                         temporal_filter=True)
    return list(inferencer(str(source)))


def count_builds(infer):
    """Wrap the tool's inferencer class; returns the list of builds."""
    real, built = infer.tool.VideoPortraitInferencer, []

    def build(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    infer.tool.VideoPortraitInferencer = build
    return built


def refuse_model(infer):
    built = []
    infer.tool.VideoPortraitInferencer = lambda *a, **k: built.append(1)
    return built


# ------------------------------------------------------ transparent outputs


def test_rgba_png_sequence_has_the_probability_as_alpha(
        infer, tmp_path, tiny_model_files):
    src = frame_folder(tmp_path / 'frames', n=3)
    out = tmp_path / 'rgba'
    code, io = infer('--out', out, '--png', '--output-type', 'rgba',
                     source=src)
    assert code == 0, io.err
    for i, res in enumerate(expected_results(tiny_model_files, src)):
        got = cv2.imread(str(out / f'{i:05d}.png'), cv2.IMREAD_UNCHANGED)
        assert got.shape == (48, 64, 4)
        np.testing.assert_array_equal(got[..., :3], res.frame)
        np.testing.assert_array_equal(got[..., 3], np.rint(res.prob * 255))


@pytest.mark.parametrize('suffix', video_io.ALPHA_VIDEO_SUFFIXES
                         if hasattr(video_io, 'ALPHA_VIDEO_SUFFIXES') else [])
def test_rgba_video_carries_alpha(infer, tmp_path, tiny_model_files, suffix):
    av = pytest.importorskip('av')
    src = frame_folder(tmp_path / 'frames', n=3)
    out = tmp_path / f'rgba{suffix}'
    code, io = infer('--out', out, '--output-type', 'rgba', source=src)
    assert code == 0, io.err
    expected = expected_results(tiny_model_files, src)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        if suffix == '.webm':  # FFmpeg's own vp9 decoder drops the alpha
            decoder = av.CodecContext.create('libvpx-vp9', 'r')
            frames = [f for p in c.demux(stream) if p.size
                      for f in decoder.decode(p)]
        else:
            frames = list(c.decode(stream))
        assert all('a' in f.format.name for f in frames)  # yuva...
        frames = [f.to_ndarray(format='bgra') for f in frames]
    assert len(frames) == 3
    for got, res in zip(frames, expected):
        alpha = np.rint(res.prob * 255)
        # within the codec's tolerance (ProRes 4444 is near lossless)
        assert np.abs(got[..., 3].astype(float) - alpha).mean() < 3, suffix


def test_rgba_in_a_container_without_alpha_is_refused_first(infer,
                                                           tmp_path):
    src = frame_folder(tmp_path / 'frames', n=2)
    built = refuse_model(infer)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--output-type', 'rgba', source=src)
    assert code == 1 and not built and not out.exists()
    line = io.err.strip().splitlines()[-1]
    assert line.startswith(f'infer_video: error: --output-type rgba: {out} '
                           'cannot carry an alpha channel; ')
    assert 'or --png for PNGs with alpha)' in line
    assert len(io.err.strip().splitlines()) == 1


# ----------------------------------------------------------------- audio


def test_audio_is_kept_unless_dropped(infer, tmp_path):
    clip = write_clip(tmp_path / 'talk.mp4', n=8, tone=True)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--max-frames', 5, source=clip)
    assert code == 0, io.err
    assert streams(out)['audio'] == ['aac']
    # cut to the output's 5 frames, to within one frame (40 ms)
    assert abs(decoded_seconds(out, 'audio') - 5 / 25) <= 1 / 25
    code, io = infer('--out', out, '--no-audio', source=clip)
    assert code == 0, io.err
    assert set(streams(out)) == {'video'}
    # inputs without audio: nothing to keep, no complaint
    silent = write_clip(tmp_path / 'silent.mp4', n=3)
    code, io = infer('--out', out, source=silent)
    assert code == 0 and 'warning' not in io.err, io.err
    assert set(streams(out)) == {'video'}


# -------------------------------------------------------- video background


def write_solid_clip(path, colours, size=(24, 32)):
    from tests.apis.test_compositing import write_lossless_clip
    return write_lossless_clip(path, colours, size)


@pytest.mark.parametrize('colours', [3, 10], ids=['looped', 'cut'])
def test_video_background_follows_the_frames(infer, tmp_path,
                                             tiny_model_files, colours):
    from mmseg_pdnet.apis.compositing import replace_background
    palette = [(40 * i % 256, 250 - 25 * i, 100 + 15 * i)
               for i in range(colours)]
    # 24x32: another size and aspect than the 48x64 frames (covered)
    background = write_solid_clip(tmp_path / 'bg.mkv', palette)
    src = frame_folder(tmp_path / 'frames', n=7)
    out = tmp_path / 'composite'
    code, io = infer('--out', out, '--png', '--output-type', 'background',
                     '--background', background, source=src)
    assert code == 0, io.err
    written = sorted(out.iterdir())
    assert len(written) == 7
    for i, res in enumerate(expected_results(tiny_model_files, src)):
        want = replace_background(res.frame, res.prob,
                                  palette[i % colours])
        np.testing.assert_array_equal(cv2.imread(str(written[i])), want,
                                      err_msg=f'frame {i}')
    assert not [t for t in threading.enumerate()
                if t.name == 'background-reader']


def test_bad_background_video_is_refused_first(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=2)
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(np.random.default_rng(0).bytes(2048))
    built = refuse_model(infer)
    out = tmp_path / 'o.mp4'
    code, io = infer('--out', out, '--output-type', 'background',
                     '--background', junk, source=src)
    assert code == 1 and not built and not out.exists()
    lines = io.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f'infer_video: error: --background {junk}: ')
    assert lines[0].endswith('(no output written)')


# ------------------------------------------------------------ many inputs


@pytest.fixture
def clips(tmp_path):
    """A folder of three clips of 4, 3 and 5 frames (a.mp4, b.mp4, c.mov).
    """
    folder = tmp_path / 'clips'
    folder.mkdir()
    for name, n in (('a.mp4', 4), ('b.mp4', 3), ('c.mov', 5)):
        write_clip(folder / name, n=n, shift=n)
    return folder


def test_folder_of_videos_one_model_one_table(infer, tmp_path, clips):
    built = count_builds(infer)
    out = tmp_path / 'out'
    code, io = infer('--out', out, '--output-type', 'mask', source=clips)
    assert code == 0, io.err
    assert len(built) == 1  # the model is loaded once
    assert sorted(p.name for p in out.iterdir()) == ['a.mp4', 'b.mp4',
                                                     'c.mp4']
    for name, n in (('a', 4), ('b', 3), ('c', 5)):
        assert count_frames(out / f'{name}.mp4') == (n, (48, 64))
        assert f'wrote {out / name}.mp4' in io.out
    # one progress line per input, named
    for i, name in enumerate(['a.mp4', 'b.mp4', 'c.mov']):
        assert f'[{i + 1}/3] {clips / name}: ' in io.err
    table = io.err[io.err.index('file  '):].splitlines()
    assert table[0].split()[:3] == ['file', 'frames', 'frames/s']
    rows = [line.split() for line in table[2:5]]
    assert [(r[0], r[1], r[-1]) for r in rows] == [
        (str(clips / 'a.mp4'), '4', 'ok'), (str(clips / 'b.mp4'), '3', 'ok'),
        (str(clips / 'c.mov'), '5', 'ok')]
    assert table[-1].split()[:2] == ['total', '12']


def test_a_bad_input_does_not_stop_the_others(infer, tmp_path, clips):
    (clips / 'broken.mp4').write_bytes(b'\x00' * 100)
    out = tmp_path / 'out'
    code, io = infer('--out', out, '--png', '--ext', '.mov',
                     source=f'{clips}/*')
    assert code == 1
    # PNG sequences: one folder per input
    assert sorted(p.name for p in out.iterdir()) == ['a', 'b', 'c']
    assert len(list((out / 'c').iterdir())) == 5
    errors = [line for line in io.err.splitlines() if 'error' in line]
    # sorted: a.mp4, b.mp4, broken.mp4, c.mov
    assert errors == [
        f'infer_video: error: [3/4] {clips / "broken.mp4"}: not a readable '
        'video',
        'infer_video: error: 1 of 4 inputs failed (the others were '
        'written)']
    row = [line.split() for line in io.err.splitlines()
           if line.startswith(str(clips / 'broken.mp4'))][0]
    assert row[1:3] == ['0', '-'] and row[-1] == 'failed'
    assert not list(out.glob('.*partial*'))


def test_many_inputs_need_an_output_folder(infer, tmp_path, clips):
    built = refuse_model(infer)
    code, io = infer('--out', tmp_path / 'o.mp4', source=clips)
    assert code == 1 and not built
    assert io.err.strip() == (
        f'infer_video: error: --out {tmp_path / "o.mp4"}: with 3 inputs, '
        '--out is a folder (each output is named after its input) (no '
        'output written)')
    (clips / 'a.avi').write_bytes(b'x')  # a.mp4 and a.avi -> out/a.mp4
    code, io = infer('--out', tmp_path / 'out', source=clips)
    assert code == 1 and not built
    assert (f'{clips / "a.avi"} and {clips / "a.mp4"} would both write '
            f'{tmp_path / "out" / "a.mp4"}') in io.err


def test_mixed_and_empty_folders_are_refused_first(infer, tmp_path, clips):
    built = refuse_model(infer)
    cv2.imwrite(str(clips / '000.png'), np.zeros((8, 8, 3), np.uint8))
    code, io = infer('--out', tmp_path / 'out', source=clips)
    assert code == 1 and not built
    assert io.err.strip() == (
        f'infer_video: error: {clips}: folder holds both frames (1 images, '
        'e.g. 000.png) and videos (3, e.g. a.mp4); a folder is one video of '
        'frames or a folder of videos: move one kind out (no output '
        'written)')
    empty = tmp_path / 'empty'
    empty.mkdir()
    code, io = infer('--out', tmp_path / 'o.mp4', source=empty)
    assert code == 1 and not built
    assert io.err.strip().startswith(
        f'infer_video: error: {empty}: folder holds no image frame and no '
        'video')


def test_torchrun_shards_the_inputs(tmp_path, clips, tiny_model_files):
    """2 CPU processes (gloo): rank 0 takes inputs 1 and 3, rank 1 input 2;
    rank 0 prints the table of all."""
    import subprocess
    import sys

    from tests.engine.test_ddp import free_port
    from tests.helpers import ROOT
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               PYTHON=sys.executable, PORT=str(free_port()))
    cmd = ['bash', os.path.join(ROOT, 'tools', 'dist_infer.sh'),
           *tiny_model_files, '2', f'{clips}/*', '--out', str(out),
           '--output-type', 'mask', '--device', 'cpu']
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'terminate called' not in log, log[-4000:]
    for name, n in (('a', 4), ('b', 3), ('c', 5)):
        assert count_frames(out / f'{name}.mp4') == (n, (48, 64))
    rows = {line.split()[0]: line.split() for line in log.splitlines()
            if line.startswith(str(clips))}
    # file, frames, ..., status, rank
    assert {os.path.basename(k): (v[1], v[-2], v[-1])
            for k, v in rows.items()} == {
        'a.mp4': ('4', 'ok', '0'), 'b.mp4': ('3', 'ok', '1'),
        'c.mov': ('5', 'ok', '0')}
    assert log.count('total  ') == 1  # one table, on rank 0


def test_other_launchers_are_refused(infer, tmp_path, clips):
    code, io = infer('--out', tmp_path / 'out', '--launcher', 'slurm',
                     source=clips)
    assert code == 1 and '--launcher slurm: infer_video shards its inputs ' \
        'under torchrun: use --launcher pytorch' in io.err


# ---------------------------------------------------------------- preview


def test_show_without_a_display_is_refused_first(infer, tmp_path,
                                                 monkeypatch):
    from mmseg_pdnet.apis import preview
    if not preview.sys.platform.startswith('linux'):
        pytest.skip('DISPLAY matters on Linux only')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    src = frame_folder(tmp_path / 'frames', n=2)
    built = refuse_model(infer)
    code, io = infer('--show', source=src)
    assert code == 1 and not built
    assert io.err.strip() == (
        'infer_video: error: --show: no display: DISPLAY is not set (run it '
        'on a desktop, over ssh -X, or under xvfb-run) (no output written)')


class FakeWindow:
    """Records what the preview shows; asks to stop after ``stop_at``."""

    def __init__(self, stop_at=None):
        self.images, self.stop_at, self.closed = [], stop_at, False

    def __call__(self, *args, **kwargs):  # stands in for the class
        return self

    def show(self, image):
        self.images.append(image)
        return self.stop_at is None or len(self.images) < self.stop_at

    def close(self):
        self.closed = True


def test_closing_the_preview_finishes_the_outputs(infer, tmp_path,
                                                  monkeypatch, clips):
    window = FakeWindow(stop_at=1)  # q at the first frame shown
    infer.tool.PreviewWindow = window
    infer.tool.display_unavailable = lambda: None
    out = tmp_path / 'out'
    code, io = infer('--out', out, '--show', source=clips)
    assert code == 0, io.err
    assert window.closed and len(window.images) == 1
    assert window.images[0].shape == (48, 64, 3)
    # the first input is cut where the window closed, complete and
    # playable; the others are not started
    n, size = count_frames(out / 'a.mp4')
    assert 1 <= n <= 4 and size == (48, 64)
    assert sorted(p.name for p in out.iterdir()) == ['a.mp4']
    statuses = [line.split()[-1] for line in io.err.splitlines()
                if line.startswith(str(clips))]
    assert statuses == ['stopped', 'skipped', 'skipped']


def test_show_alone_previews_without_writing(infer, tmp_path):
    window = FakeWindow()
    infer.tool.PreviewWindow = window
    infer.tool.display_unavailable = lambda: None
    src = frame_folder(tmp_path / 'frames', n=4)
    code, io = infer('--show', '--output-type', 'rgba', source=src)
    assert code == 0, io.err
    assert 1 <= len(window.images) <= 4 and io.out == ''
    # transparency is shown over a checkerboard
    assert window.images[-1].shape == (48, 64, 3)


def test_show_under_a_virtual_display(tmp_path, xvfb, tiny_model_files):
    """The real window, on Xvfb (in a process of its own: Qt stays bound
    to its X server)."""
    import subprocess
    import sys

    from tests.helpers import ROOT
    src = frame_folder(tmp_path / 'frames', n=4)
    out = tmp_path / 'o.mp4'
    env = dict(os.environ, DISPLAY=xvfb, PYTHONPATH=ROOT,
               OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'infer_video.py'),
         str(src), *tiny_model_files, '--out', str(out), '--show',
         '--device', 'cpu'], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert count_frames(out) == (4, (48, 64))
    assert f'wrote {out}' in proc.stdout


# ----------------------------------------------------------------- timing


def test_each_run_ends_with_the_time_per_stage(infer, tmp_path):
    src = frame_folder(tmp_path / 'frames', n=3)
    code, io = infer('--out', tmp_path / 'o.mp4', source=src)
    assert code == 0, io.err
    import re
    line = [x for x in io.err.splitlines() if x.startswith('per frame: ')]
    assert len(line) == 1 and re.fullmatch(
        r'per frame: decode \d+\.\d ms, model \d+\.\d ms, render/encode '
        r'\d+\.\d ms \((the model|decode|render/encode) bounds the speed\)',
        line[0]), io.err
    model_ms = float(re.search(r'model (\S+) ms', line[0]).group(1))
    assert model_ms > 0
