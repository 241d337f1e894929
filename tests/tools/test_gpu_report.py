"""tools/analysis_tools/gpu_report.py at tiny sizes on the CPU: every
section's code path runs, and the report holds real measurements
(positive, consistent with each other), never timing thresholds."""
import json

import pytest
import torch

from mmseg_pdnet.apis.cuda_graph_runner import CUDAGraphRunner
from mmseg_pdnet.utils.benchmarking.models import load_pdnet_config
from mmseg_pdnet.utils.gpu_report.inference_matrix import measure_inference
from mmseg_pdnet.utils.gpu_report.report_config import write_report_config
from mmseg_pdnet.utils.gpu_report.sizes import TINY_MODEL
from mmseg_pdnet.utils.gpu_report.video_e2e import parse_summary
from tests.helpers import PAPER_CONFIG, import_tool

# pytest's -k cuda keeps the first two (one passes, one skips) and
# deselects the third (the file's name must not say cuda: -k matches it)
FAKE_CUDA_TESTS = '''
import pytest


def test_cuda_check_that_passes():
    assert True


@pytest.mark.skip(reason='stands for a CUDA-only test')
def test_cuda_check_that_skips():
    pass


def test_without_the_keyword():
    pass
'''


class ReplayStandIn(CUDAGraphRunner):
    """The graph runner's bookkeeping without CUDA: "capture" is a call
    on the static buffers, a "replay" calls on them again and writes into
    the captured outputs (as tests/apis/test_cuda_graph_runner.py)."""

    def _record(self):
        return self._run_static()

    def _replay(self):
        for key, value in self._run_static().items():
            self._outputs[key].copy_(value)


@pytest.fixture(scope='module')
def tiny_report(tmp_path_factory):
    tool = import_tool('analysis_tools/gpu_report.py')
    tmp = tmp_path_factory.mktemp('gpu_report')
    fake = tmp / 'test_fake_gpu_checks.py'
    fake.write_text(FAKE_CUDA_TESTS)
    out = tmp / 'report'
    threads = torch.get_num_threads()
    code = tool.main(['--device', 'cpu', '--tiny', '--out-dir', str(out),
                      '--cuda-tests', str(fake)])
    assert torch.get_num_threads() == threads  # one thread while it ran
    with open(out / 'report.json') as f:
        report = json.load(f)
    return code, report, (out / 'report.md').read_text()


def test_every_section_runs_and_is_written(tiny_report):
    code, report, page = tiny_report
    assert code == 0, report
    assert list(report['sections']) == ['cuda_tests', 'inference',
                                        'training', 'nvenc', 'video',
                                        'recipe']
    for name, section in report['sections'].items():
        assert 'error' not in section, (name, section)
        assert section['wall_s'] > 0
    assert report['settings']['tiny'] is True
    assert report['wall_s'] >= sum(s['wall_s']
                                   for s in report['sections'].values())
    assert report['device'] and report['torch'] == torch.__version__
    for title in ('## CUDA tests', '## Inference', '## Training step',
                  '## infer_video end to end', '## Paper recipe', '## NVENC',
                  '**Tiny sizes**'):
        assert title in page


def test_test_section_counts_the_results(tiny_report):
    tests = tiny_report[1]['sections']['cuda_tests']['result']
    assert tests['returncode'] == 0
    assert (tests['passed'], tests['skipped'], tests['failed'],
            tests['errors'], tests['deselected']) == (1, 1, 0, 0, 1)
    assert '-k cuda' in tests['command']


def test_inference_rows_are_consistent(tiny_report):
    inference = tiny_report[1]['sections']['inference']['result']
    rows = inference['rows']
    # no CUDA: eager rows only, every mode x batch x precision
    assert len(rows) == 3 * 2 * 2
    assert {r['execution'] for r in rows} == {'eager'}
    for r in rows:
        assert r['fps'] == pytest.approx(1000 * r['batch'] / r['median_ms'])
        assert 0 < r['min_ms'] <= r['median_ms'] <= r['max_ms']
        assert r['peak_mem_mb'] > 0
        diff = r['max_abs_prob_diff_vs_fp32_eager']
        if r['precision'] == 'fp32':
            assert diff == 0, r  # the row is its own reference
        else:
            assert 0 < diff < 0.1, r  # bf16 autocast moves it, a little
    for key, ratios in inference['ratios'].items():
        batch, precision, execution = key.split('/')
        by_mode = {r['mode']: r for r in rows
                   if (f'b{r["batch"]}', r['precision'], r['execution']) ==
                   (batch, precision, execution)}
        assert ratios['streaming_over_baseline_time'] == pytest.approx(
            by_mode['streaming']['median_ms'] /
            by_mode['baseline']['median_ms'])
    assert any('not measured' in note for note in inference['notes'])


def test_training_variants_are_consistent(tiny_report):
    train = tiny_report[1]['sections']['training']['result']
    assert (train['batch'], train['size'], train['num_parts']) == (2, 64, 5)
    variants = ('fp32', 'amp', 'amp_channels_last', 'compiled')
    for name in variants:
        v = train[name]
        assert 0 < v['min_ms'] <= v['median_ms'] <= v['max_ms'], name
        assert v['peak_mem_mb'] > 0, name
        assert v['speedup_over_fp32'] == pytest.approx(
            train['fp32']['median_ms'] / v['median_ms'])
    for name in ('fp32', 'amp', 'amp_channels_last'):
        assert train[name]['ops_per_step'] > train[name]['casts_per_step']
    # autocast adds casts; the compiled step is not counted
    assert train['amp']['casts_per_step'] > train['fp32']['casts_per_step']
    assert 'ops_per_step' not in train['compiled']
    # the same model and batch: the same loss compiled (dynamo's eager
    # backend here) and within bf16's precision under AMP
    assert train['compiled']['loss'] == pytest.approx(
        train['fp32']['loss'], rel=1e-5)
    assert train['amp']['loss'] == pytest.approx(train['fp32']['loss'],
                                                 rel=0.05)


def test_video_runs_write_every_frame(tiny_report):
    video = tiny_report[1]['sections']['video']['result']
    assert set(video['clips']) == {'480p'}  # tiny: one clip
    for name, run in video['clips'].items():
        assert run['returncode'] == 0, run
        assert run['summary']['frames'] == run['frames'] == \
            run['output_frames'], name
        assert run['summary']['fps'] > 0
        stages = run['summary']['ms_per_frame']
        if stages is not None:  # when infer_video gives them
            assert set(stages) == {'decode', 'model', 'encode'}
            assert all(ms >= 0 for ms in stages.values())
        # the summary gives seconds to 0.1 s: 6 tiny frames may take 0.0
        assert run['wall_s'] > run['summary']['seconds'] >= 0


def test_recipe_trains_then_resumes(tiny_report):
    recipe = tiny_report[1]['sections']['recipe']['result']
    assert recipe['first']['returncode'] == 0, recipe['first']
    assert recipe['resumed']['returncode'] == 0, recipe['resumed']
    assert recipe['checkpoint_after_first'] is True
    # 1 clip x 3 frames, batch 2 (last batch dropped): 1 video + 1 image
    # iteration an epoch
    assert recipe['iterations_per_epoch'] == 2
    assert recipe['final_iteration'] == recipe['expected_iterations'] == 4
    assert recipe['final_epoch'] == 2
    assert recipe['losses_finite'] is True
    assert recipe['s_per_iter_median'] > 0
    # no GPU: the recipe's AMP wrapper falls back to float32
    assert recipe['amp_loss_scaler_saved'] is False
    # validated after the resumed epoch: J&F of the random model
    assert 0 <= recipe['validation']['J&F'] <= 100


def test_nvenc_probe_reports_each_encoder(tiny_report):
    nvenc = tiny_report[1]['sections']['nvenc']['result']
    assert set(nvenc) == {'h264_nvenc', 'hevc_nvenc'}
    for probe in nvenc.values():
        assert isinstance(probe['listed'], bool)
        # it either encoded packets or says why not
        assert (probe['encoded'] > 0) != (probe['error'] is not None)


def test_graph_rows_replay_the_eager_result(tmp_path):
    """The CUDA-graph rows' code path (static inputs, captured outputs),
    through a stand-in runner on the CPU: fp32 replays equal eager."""
    cfg = write_report_config(PAPER_CONFIG, str(tmp_path / 'cfg.py'), 64, 0,
                              TINY_MODEL)
    model_cfg = load_pdnet_config(cfg).model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tool on a CPU: steadier when shared
    try:
        result = measure_inference(model_cfg, 'cpu', 64, (1, ), 0, 1,
                                   runner_cls=ReplayStandIn)
    finally:
        torch.set_num_threads(threads)
    graphs = [r for r in result['rows'] if r['execution'] == 'cuda_graphs']
    assert len(graphs) == 3 * 2
    for r in graphs:
        limit = 1e-5 if r['precision'] == 'fp32' else 0.1
        assert r['max_abs_prob_diff_vs_fp32_eager'] <= limit, r
        assert r['peak_mem_mb'] > 0 and r['fps'] > 0
    assert set(result['ratios']) == {
        f'b1/{p}/{e}' for p in ('fp32', 'fp16_channels_last')
        for e in ('eager', 'cuda_graphs')}


def test_summary_line_is_parsed_with_or_without_stage_times():
    plain = '600/600 frames, 300.1 frames/s\n600 frames in 2.0 s, 300.0 ' \
            'frames/s\n'
    assert parse_summary(plain) == dict(
        frames=600, seconds=2.0, fps=300.0, ms_per_frame=None, bound=None,
        line='600 frames in 2.0 s, 300.0 frames/s')
    staged = parse_summary(
        'clip.mp4: 600 frames in 2.0 s, 300.0 frames/s\nclip.mp4: per '
        'frame: decode 1.5 ms, model 2.25 ms, render/encode 0.5 ms (the '
        'model bounds the speed)\n')
    assert staged['ms_per_frame'] == dict(decode=1.5, model=2.25,
                                          encode=0.5)
    assert (staged['fps'], staged['bound']) == (300.0, 'model')
    assert parse_summary('infer_video: error: no such file') is None


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only check')
def test_without_cuda_it_stops_in_one_line(load_tool, tmp_path, capsys):
    tool = load_tool('analysis_tools/gpu_report.py')
    assert tool.main(['--out-dir', str(tmp_path / 'r')]) == 1
    err = capsys.readouterr().err
    assert err.startswith('gpu_report: error: no CUDA device')
    assert err.count('\n') == 1
    assert not (tmp_path / 'r').exists()
