"""tools/analysis_tools/benchmark.py on a tiny ResNet-18 PDNet (correctness
of the tool only: fields present and positive; no timing assertions)."""
import json

import pytest
import torch

from mmseg_pdnet.utils.benchmarking import (compile_callable, count_ops,
                                            peak_memory_mb, uses_cudagraphs)
from tests.helpers import TINY_OPTIONS, config_path

CONFIG = config_path('_base_/models/pdnet_r50.py')
TINY = ['--cfg-options', *(f'model.{k}={v}'.replace(' ', '')
                           for k, v in TINY_OPTIONS.items())]


@pytest.fixture
def bench(load_tool):
    return load_tool('analysis_tools/benchmark.py')


def run(bench, tmp_path, *extra):
    out = tmp_path / 'bench.json'
    argv = [CONFIG, '--size', '64', '--repeats', '2', '--warmup', '1',
            '--train-repeats', '1', '--threads', '1', '--json', str(out),
            *extra, *TINY]
    returned = bench.main(argv)
    with open(out) as f:
        written = json.load(f)
    return returned, written


def test_benchmark_reports_every_field(bench, tmp_path):
    threads = torch.get_num_threads()
    returned, result = run(bench, tmp_path)
    assert torch.get_num_threads() == threads  # --threads 1 is undone
    assert result['device'].startswith(bench.device_name('cpu')[:8])
    assert result['settings']['size'] == 64
    assert result['settings']['cfg_options'][
        'model.backbone.backbone.depth'] == 18
    assert result['device']
    modes = result['inference']['modes']
    assert set(modes) == {'paired', 'streaming', 'baseline'}
    for name, stats in modes.items():
        for key in ('fps', 'median_ms', 'q1_ms', 'q3_ms', 'min_ms', 'max_ms',
                    'peak_mem_mb', 'gflops'):
            assert stats[key] > 0, (name, key)
        assert stats['min_ms'] <= stats['median_ms'] <= stats['max_ms']
        assert stats['q1_ms'] <= stats['median_ms'] <= stats['q3_ms']
    # streaming skips the reference encoder: fewer FLOPs than paired
    assert modes['streaming']['gflops'] < modes['paired']['gflops']
    assert modes['streaming']['reference_encode_ms'] > 0
    # fp32 eager: streaming gives the paired forward's probabilities
    assert modes['streaming']['max_abs_prob_diff_vs_fp32'] < 1e-5
    assert modes['paired']['max_abs_prob_diff_vs_fp32'] == 0
    for key in ('streaming_over_paired_fps', 'streaming_over_baseline_time',
                'baseline_over_streaming_fps'):
        assert result['inference']['ratios'][key] > 0
    train = result['train']
    assert (train['batch'], train['size'], train['num_parts']) == (2, 64, 5)
    assert train['ops_per_step'] > train['casts_per_step'] > 0
    for variant in ('lean', 'straightforward', 'lean_stacked'):
        for key in ('median_ms', 'min_ms', 'max_ms', 'peak_mem_mb', 'loss'):
            assert train[variant][key] > 0, (variant, key)
    assert train['peak_mem_ratio_lean_over_straightforward'] > 0
    assert train['time_ratio_per_frame_over_stacked'] > 0
    assert train['loss_rel_diff'] <= 1e-5  # same loss, lean or not
    assert returned['inference']['ratios'] == result['inference']['ratios']


def test_benchmark_reports_operator_counts(bench, tmp_path):
    """Aten operators per call (BN folded in both models): streaming runs
    fewer than paired, and the ratio to the baseline is reported."""
    _, result = run(bench, tmp_path, '--skip-train', '--repeats', '1')
    modes = result['inference']['modes']
    for name, stats in modes.items():
        assert stats['ops'] == sum(stats['ops_by_name'].values()) > 0, name
        assert stats['ops_by_name']['aten.convolution'] > 0, name
        # folded: no BN kernel left in either model
        assert not any('batch_norm' in op for op in stats['ops_by_name'])
    assert modes['streaming']['ops'] < modes['paired']['ops']
    ratios = result['inference']['ratios']
    assert ratios['streaming_over_baseline_ops'] == pytest.approx(
        modes['streaming']['ops'] / modes['baseline']['ops'])
    assert ratios['paired_over_baseline_ops'] == pytest.approx(
        modes['paired']['ops'] / modes['baseline']['ops'])
    assert result['inference']['peak_mem_method'].startswith(
        'torch.profiler')


def test_r50_streaming_runs_at_most_135_percent_of_baseline_ops(bench):
    """Per frame, streaming PDNet-R50 dispatches at most 1.35x
    the operators (kernel launches) of the single-frame R50-FPN-FCN
    baseline, BN folded in both (the counts do not depend on the frame
    size: 64x64 here)."""
    cfg = bench.load_pdnet_config(CONFIG, None)
    model = bench.build_model(cfg.model, 'cpu').eval()
    baseline = bench.build_model(bench.baseline_config(cfg.model),
                                 'cpu').eval()
    target, ref = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64),
                  pad_shape=(64, 64))]
    with torch.inference_mode():
        ops = bench.count_mode_ops(model, baseline, target, ref, metas)
    counts = {name: total for name, (total, _) in ops.items()}
    assert counts['streaming'] <= 1.35 * counts['baseline'], counts
    assert counts['baseline'] < counts['streaming'] < counts['paired']


def test_benchmark_amp_and_channels_last_options(bench, tmp_path):
    _, result = run(bench, tmp_path, '--amp', '--channels-last',
                    '--fuse-conv-bn', '--skip-train')
    assert 'train' not in result
    settings = result['settings']
    assert settings['amp'] and settings['channels_last']
    assert settings['fuse_conv_bn']
    # autocast's dtype casts are counted operators too
    for stats in result['inference']['modes'].values():
        assert stats['ops_by_name']['aten._to_copy'] > 0
    assert settings['amp_dtype'] == 'bf16'  # CPU default
    modes = result['inference']['modes']
    for stats in modes.values():
        assert stats['fps'] > 0 and stats['peak_mem_mb'] > 0
    # bf16 moves the probabilities, but only a little
    assert 0 <= modes['streaming']['max_abs_prob_diff_vs_fp32'] < 0.1


def test_benchmark_compile_option_traces_the_timed_callables(
        bench, tmp_path, monkeypatch):
    """--compile-backend eager: dynamo traces the three timed callables
    (no code generation, so it is quick) and the result is unchanged.
    The CUDA-graph branch (peak memory over the warm-up calls that record
    the graphs, outputs cloned) runs too, forced on the CPU."""
    monkeypatch.setattr(bench, 'cudagraphs', lambda args: True)
    _, result = run(bench, tmp_path, '--compile-backend', 'eager',
                    '--skip-train')
    assert result['inference']['peak_mem_method'].endswith(
        'CUDA-graph modes: over the warm-up calls')
    settings = result['settings']
    assert settings['compile'] is True
    assert (settings['compile_backend'], settings['compile_mode']) == \
        ('eager', 'default')
    modes = result['inference']['modes']
    assert modes['paired']['max_abs_prob_diff_vs_fp32'] <= 1e-6
    assert modes['streaming']['max_abs_prob_diff_vs_fp32'] <= 1e-5
    with pytest.raises(SystemExit):  # CUDA graphs need inductor
        bench.parse_args([CONFIG, '--compile-backend', 'eager',
                          '--compile-mode', 'reduce-overhead'])
    args = bench.parse_args([CONFIG, '--compile-mode', 'max-autotune'])
    assert args.compile and args.compile_backend == 'inductor'


def test_benchmark_baseline_shares_the_backbone_settings(bench):
    from mmengine.config import Config
    cfg = bench.load_pdnet_config(CONFIG, {
        'model.backbone.backbone.depth': 18,
        'model.backbone.decoder.in_channels': [64, 128, 256, 512]})
    assert cfg.model.backbone.backbone.init_cfg is None  # no download
    assert cfg.model.part_loss.semantic_extractor.checkpoint is None
    base = bench.baseline_config(cfg.model)
    assert base['type'] == 'EncoderDecoder'
    assert base['backbone']['depth'] == 18
    assert base['backbone']['norm_cfg'] == dict(cfg.model.backbone.backbone
                                                .norm_cfg)
    assert base['neck']['in_channels'] == [64, 128, 256, 512]
    assert base['decode_head']['type'] == 'FCNHead'
    assert isinstance(Config(dict(model=base)), Config)


def test_benchmark_rejects_bad_arguments(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.parse_args([CONFIG, '--repeats', '0'])
    not_pdnet = tmp_path / 'not_pdnet.py'
    not_pdnet.write_text("model = dict(type='EncoderDecoder')\n")
    with pytest.raises(ValueError, match='expected a PDNet model config'):
        bench.load_pdnet_config(str(not_pdnet), None)


def test_peak_memory_counts_what_a_call_allocates():
    kept = []

    def alloc():
        x = torch.empty(4 * 2**20, dtype=torch.uint8)  # 4 MiB
        y = torch.empty(2 * 2**20, dtype=torch.uint8)  # + 2 MiB live
        kept.append(torch.empty(2**20, dtype=torch.uint8))  # 1 MiB kept
        del x, y

    assert 7 <= peak_memory_mb(alloc, 'cpu') < 7.5
    # over several calls: what earlier calls keep counts
    assert 8 <= peak_memory_mb(alloc, 'cpu', calls=2) < 8.5


def test_op_counter_counts_kernels_not_views():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                                torch.nn.BatchNorm2d(4),
                                torch.nn.ReLU(inplace=True)).eval()
    x = torch.randn(2, 3, 8, 8)

    def call():
        y = model(x)  # conv, BN, ReLU: 3
        y = y.flatten(1).transpose(0, 1).expand(2, -1, -1)  # views: 0
        return (y.contiguous() * 2).sum()  # copy, mul, sum: 3

    want = {'aten.convolution': 1, 'aten.native_batch_norm': 1,
            'aten.relu_': 1, 'aten.clone': 1, 'aten.mul': 1, 'aten.sum': 1}
    # the same count whatever the autograd state (under inference_mode
    # composite operators such as conv2d arrive whole: decomposed here)
    for mode in (torch.inference_mode, torch.no_grad, torch.enable_grad):
        with mode():
            total, by_name = count_ops(call)
        assert (total, by_name) == (6, want), mode
    # a reshape that copies counts its copy (not its _unsafe_view), a
    # contiguous tensor's .contiguous() nothing, the .item() read nothing
    total, by_name = count_ops(
        lambda: x.transpose(0, 1).reshape(3, -1).contiguous().sum().item())
    assert total == 2 and set(by_name) == {'aten.clone', 'aten.sum'}


def test_cudagraph_compiled_calls_mark_a_new_step(monkeypatch):
    """Under CUDA graphs every call of a compiled callable starts a new
    graph step, so a replay never finds the previous outputs in use."""
    steps = []
    monkeypatch.setattr(torch, 'compile', lambda fn, **kwargs: fn)
    monkeypatch.setattr(torch.compiler, 'cudagraph_mark_step_begin',
                        lambda: steps.append('step'))
    for mode, graphs in (('default', False), ('reduce-overhead', True),
                         ('max-autotune', True),
                         ('max-autotune-no-cudagraphs', False)):
        assert uses_cudagraphs(mode) is graphs
        steps.clear()
        fn = compile_callable(lambda x: x + 1, mode)
        assert fn(1) == 2 and fn(2) == 3
        assert steps == (['step', 'step'] if graphs else []), mode
    assert not uses_cudagraphs('reduce-overhead', backend='eager')


def test_device_config_and_amp_arguments_are_checked(capsys):
    """One-line errors for --device cuda without CUDA and a config in the
    wrong place; --amp is spelled as in the other tools."""
    from tests.helpers import import_tool
    bench = import_tool('analysis_tools/benchmark.py')
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.parse_args([CONFIG, '--device', 'cuda'])
        err = capsys.readouterr().err
        assert '--device cuda: CUDA is not available' in err
    with pytest.raises(SystemExit):
        bench.parse_args(['model.pth', CONFIG])
    assert 'usage: benchmark.py CONFIG [CHECKPOINT]' in \
        capsys.readouterr().err
    assert bench.parse_args([CONFIG, '--amp', 'fp16']).amp_dtype == 'fp16'
    assert bench.parse_args([CONFIG]).amp_dtype is None
