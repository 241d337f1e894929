"""The per-stage times and the summary table of the video tool."""
from mmseg_pdnet.apis.run_summary import ClipReport, WaitTimer, format_table


def test_stage_line_names_the_bound():
    report = ClipReport('a.mp4', frames=10, seconds=2.0, decode_s=0.05,
                        model_s=0.3, render_s=0.6)
    assert report.fps == 5.0
    assert report.stage_line() == (
        'per frame: decode 5.0 ms, model 30.0 ms, render/encode 60.0 ms '
        '(render/encode bounds the speed)')
    report.render_s = 0.1
    assert report.stage_line().endswith('(the model bounds the speed)')


def test_table_rows_and_total():
    reports = [
        ClipReport('clips/a.mp4', frames=10, seconds=2.0, decode_s=0.01,
                   model_s=0.2, render_s=0.05, index=1),
        ClipReport('clips/bad.mp4', status='failed', error='bad', index=2,
                   rank=1),
        ClipReport('clips/c.mp4', frames=30, seconds=2.0, index=3)]
    lines = format_table(reports).splitlines()
    assert lines[0].split() == ['file', 'frames', 'frames/s', 'decode',
                                'ms', 'model', 'ms', 'render', 'ms',
                                'status']
    assert lines[2].split() == ['clips/a.mp4', '10', '5.0', '1.0', '20.0',
                                '5.0', 'ok']
    assert lines[3].split() == ['clips/bad.mp4', '0', '-', '-', '-', '-',
                                'failed']
    assert lines[-1].split() == ['total', '40', '10.0', '2/3', 'ok']
    assert all(line == line.rstrip() for line in lines)
    with_ranks = format_table(reports, ranks=True).splitlines()
    assert with_ranks[0].split()[-1] == 'rank'
    assert with_ranks[3].split()[-1] == '1'


def test_wait_timer_counts_the_time_in_next(monkeypatch):
    """Only the time spent inside the source counts, not the consumer's."""
    from mmseg_pdnet.apis import run_summary
    clock = [0.0]
    monkeypatch.setattr(run_summary, 'perf_counter', lambda: clock[0])

    def source():
        for i in range(3):
            clock[0] += 1.0  # decoding an item takes 1 s
            yield i

    timer = WaitTimer(source())
    got = []
    for item in timer:
        clock[0] += 10.0  # the consumer's own work
        got.append(item)
    assert got == [0, 1, 2] and timer.wait_s == 3.0
