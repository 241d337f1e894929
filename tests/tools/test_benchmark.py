"""tools/analysis_tools/benchmark.py on a tiny ResNet-18 PDNet (correctness
of the tool only: fields present and positive; no timing assertions)."""
import json

import pytest
import torch

CONFIG = 'configs/_base_/models/pdnet_r50.py'
TINY = ['--cfg-options', 'model.backbone.backbone.depth=18',
        'model.backbone.decoder.in_channels=[64,128,256,512]']


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
    for variant in ('lean', 'straightforward', 'lean_stacked'):
        for key in ('median_ms', 'min_ms', 'max_ms', 'peak_mem_mb', 'loss'):
            assert train[variant][key] > 0, (variant, key)
    assert train['peak_mem_ratio_lean_over_straightforward'] > 0
    assert train['time_ratio_per_frame_over_stacked'] > 0
    assert train['loss_rel_diff'] <= 1e-5  # same loss, lean or not
    assert returned['inference']['ratios'] == result['inference']['ratios']


def test_benchmark_amp_and_channels_last_options(bench, tmp_path):
    _, result = run(bench, tmp_path, '--amp', '--channels-last',
                    '--skip-train')
    assert 'train' not in result
    settings = result['settings']
    assert settings['amp'] and settings['channels_last']
    assert settings['amp_dtype'] == 'bf16'  # CPU default
    modes = result['inference']['modes']
    for stats in modes.values():
        assert stats['fps'] > 0 and stats['peak_mem_mb'] > 0
    # bf16 moves the probabilities, but only a little
    assert 0 <= modes['streaming']['max_abs_prob_diff_vs_fp32'] < 0.1


def test_benchmark_compile_option_traces_the_timed_callables(bench,
                                                             tmp_path):
    """--compile-backend eager: dynamo traces the three timed callables
    (no code generation, so it is quick) and the result is unchanged."""
    _, result = run(bench, tmp_path, '--compile-backend', 'eager',
                    '--skip-train')
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


def test_peak_memory_counts_what_a_call_allocates(bench):
    def alloc():
        x = torch.empty(4 * 2**20, dtype=torch.uint8)  # 4 MiB
        y = torch.empty(2 * 2**20, dtype=torch.uint8)  # + 2 MiB live
        del x, y

    assert 6 <= bench.peak_memory_mb(alloc, 'cpu') < 6.5
