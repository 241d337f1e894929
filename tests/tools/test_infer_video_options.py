"""tools/infer_video.py --upsampling / --temporal-filter: the optional
post-processing steps of VideoPortraitInferencer on the command line."""
import cv2
import numpy as np
import pytest

from mmseg_pdnet.apis import (GuidedUpsampler, TemporalFilter,
                              VideoPortraitInferencer, render)
from tests.tools.test_infer_video import frame_folder, infer  # noqa: F401


def read_pngs(folder, n):
    assert sorted(p.name for p in folder.iterdir()) == [
        f'{i:05d}.png' for i in range(n)]
    return [cv2.imread(str(folder / f'{i:05d}.png')) for i in range(n)]


def record_builds(infer):
    """Wrap the tool's inferencer class; returns the built instances."""
    real, built = infer.tool.VideoPortraitInferencer, []

    def build(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    infer.tool.VideoPortraitInferencer = build
    return built


def test_guided_upsampling_and_temporal_filter_reach_the_output(
        infer, tmp_path, tiny_model_files):
    src = frame_folder(tmp_path / 'frames', n=4)
    plain, smooth = tmp_path / 'plain', tmp_path / 'smooth'
    code, io = infer('--out', plain, '--png', '--output-type', 'alpha',
                     source=src)
    assert code == 0, io.err
    code, io = infer('--out', smooth, '--png', '--output-type', 'alpha',
                     '--upsampling', 'guided', '--temporal-filter',
                     source=src)
    assert code == 0, io.err
    assert f'wrote {smooth}' in io.out
    got, default = read_pngs(smooth, 4), read_pngs(plain, 4)
    # the probabilities (alpha output) are those of the Python API with
    # both steps on, and not those of the default run
    inferencer = VideoPortraitInferencer(*tiny_model_files, device='cpu',
                                         upsampling='guided',
                                         temporal_filter=True)
    for i, res in enumerate(inferencer(str(src))):
        np.testing.assert_array_equal(
            got[i], render('alpha', res.frame, res.mask, res.prob),
            err_msg=f'frame {i}')
    assert any(not np.array_equal(a, b) for a, b in zip(got, default))


def test_guided_settings_and_many_inputs(infer, tmp_path):
    clips = tmp_path / 'clips'
    clips.mkdir()
    for name in ('a', 'b'):
        frame_folder(clips / name, n=2)
    built = record_builds(infer)
    out = tmp_path / 'out'
    code, io = infer('--out', out, '--png', '--output-type', 'mask',
                     '--upsampling', 'guided', '--guided-radius', 3,
                     '--guided-eps', 0.01, '--temporal-filter',
                     source=f'{clips}/*')
    assert code == 0, io.err
    assert sorted(p.name for p in out.iterdir()) == ['a', 'b']
    assert len(built) == 1  # one model for both inputs, with the options
    upsampler, smoother = built[0].upsampler, built[0].temporal_filter
    assert isinstance(upsampler, GuidedUpsampler)
    assert (upsampler.radius, upsampler.eps) == (3, 0.01)
    assert isinstance(smoother, TemporalFilter)


def test_defaults_bilinear_and_the_temporal_filter_on(infer, tmp_path):
    """Bilinear upsampling by default; the temporal filter on unless
    --no-temporal-filter (it raised J&F and stability on the demo clips)."""
    built = record_builds(infer)
    src = frame_folder(tmp_path / 'frames', n=1)
    for flags, filtered in (([], True), (['--temporal-filter'], True),
                            (['--upsampling', 'bilinear',
                              '--no-temporal-filter'], False)):
        code, io = infer('--out', tmp_path / 'o', '--png', *flags,
                         source=src)
        assert code == 0, io.err
        assert built[-1].upsampler is None
        assert isinstance(built[-1].temporal_filter, TemporalFilter) \
            is filtered, flags
        if not filtered:
            assert built[-1].temporal_filter is None


@pytest.mark.parametrize('flag, value', [('--guided-radius', '3'),
                                         ('--guided-eps', '0.01')])
def test_guided_settings_need_guided_upsampling(load_tool, capsys, flag,
                                                value):
    tool = load_tool('infer_video.py')
    with pytest.raises(SystemExit) as err:
        tool.parse_args(['in.mp4', 'cfg.py', 'ckpt.pth', '--out', 'o.mp4',
                         flag, value])
    assert err.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f'error: {flag} needs --upsampling guided')


def test_help_names_the_steps_and_where_they_are_measured(load_tool):
    text = ' '.join(load_tool('infer_video.py').build_parser().format_help()
                    .split())
    assert '--upsampling {bilinear,guided}' in text
    assert 'edge-aware upsampling of the probability, guided by the frame' \
        in text
    assert '--temporal-filter, --no-temporal-filter steadier masks frame ' \
        'to frame' in text
    assert text.count('README.md, "Run on your video"') >= 2
