"""Smoke test of tools/analysis_tools/long_video_memory.py at a tiny size:
its outputs and JSON fields, never its timings or memory figures (those
belong to the tool's own run on a quiet machine, docs/performance.md)."""
import json


def test_long_video_memory_tool_outputs(load_tool, tmp_path, capsys):
    tool = load_tool('analysis_tools/long_video_memory.py')
    out = tmp_path / 'mem.json'
    work = tmp_path / 'work'
    code = tool.main(['--frames', '60', '--size', '64', '48', '--every',
                      '20', '--warmup', '20', '--work-dir', str(work),
                      '--json', str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert '| frames | RSS (MB) | frames/s |' in text
    assert 'rss_growth_ok: ' in text and 'fps_constant: ' in text
    result = json.loads(out.read_text())
    assert result['exit_code'] == 0
    samples = result['samples']
    assert [s['frames'] for s in samples] == [20, 40, 60]
    for s in samples:
        assert set(s) == {'frames', 'rss_mb', 'fps', 'cpu_ms_per_frame',
                          'py_objects', 'threads'}
        assert s['rss_mb'] > 0 and s['fps'] > 0
    summary = result['summary']
    for key in ('rss_start_mb', 'rss_end_mb', 'rss_growth_mb',
                'rss_peak_mb', 'fps_first', 'fps_last', 'fps_ratio',
                'fps_ratio_median', 'cpu_ratio_median',
                'frames_per_s_overall'):
        assert isinstance(summary[key], float), key
    assert summary['frames_processed'] == 60
    assert summary['rss_start_mb'] == samples[0]['rss_mb']
    assert set(result['checks']) == {'rss_growth_ok', 'fps_constant',
                                     'cpu_per_frame_constant'}
    assert all(isinstance(v, bool) for v in result['checks'].values())
    settings = result['settings']
    assert settings['frames'] == 60 and '--output-type' in \
        settings['infer_video_argv']
    # the outputs of the run: a video of masks and the contact sheet
    assert {p.name for p in work.iterdir()} >= {
        'clip.mp4', 'masks.mp4', 'sheet.png', 'tiny_pdnet.py',
        'tiny_pdnet.pth'}


def test_long_video_memory_needs_config_and_checkpoint_together(
        load_tool, capsys):
    tool = load_tool('analysis_tools/long_video_memory.py')
    assert tool.main(['only_a_config.py']) == 2
    assert 'give CONFIG and CHECKPOINT, or neither' in \
        capsys.readouterr().err
