# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The GPU report as a Markdown page (the JSON file holds everything;
the page holds the tables to read and to paste)."""
from typing import List


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def _table(header: List[str], rows: List[List]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |',
             '| ' + ' | '.join('---' for _ in header) + ' |']
    lines += ['| ' + ' | '.join(_fmt(v) if not isinstance(v, str) else v
                                for v in row) + ' |' for row in rows]
    return lines + ['']


def _failed(section: dict) -> List[str]:
    return [f'**Failed** after {section.get("wall_s", 0):.0f} s: '
            f'`{section["error"]}`', '']


def _tests(s: dict) -> List[str]:
    lines = [f'`{s["command"]}`: exit status {s["returncode"]}', '']
    lines += _table(['passed', 'failed', 'errors', 'skipped', 'deselected'],
                    [[s['passed'], s['failed'], s['errors'], s['skipped'],
                      s['deselected']]])
    if s['failures']:
        lines += ['Failed: ' + ', '.join(f'`{f}`' for f in s['failures']),
                  '']
    return lines


def _inference(s: dict) -> List[str]:
    rows = [[r['mode'], r['batch'], r['precision'], r['execution'],
             r['fps'], r['median_ms'], r['min_ms'], r['peak_mem_mb'],
             f'{r["max_abs_prob_diff_vs_fp32_eager"]:.1e}']
            for r in s['rows']]
    lines = _table(['mode', 'batch', 'precision', 'execution', 'frames/s',
                    'median ms', 'min ms', 'peak MiB',
                    'max abs prob diff vs fp32 eager'], rows)
    ratio_rows = [[key, r['streaming_over_baseline_time'],
                   r['streaming_over_baseline_time_best'],
                   r['streaming_over_paired_fps']]
                  for key, r in s['ratios'].items()]
    lines += ['Streaming per-frame time over the baseline\'s (<= 1 means '
              'streaming is faster), and streaming over paired frames/s:',
              '']
    for row in ratio_rows:
        row[1:] = [f'{v:.3f}' for v in row[1:]]
    lines += _table(['batch/precision/execution', 'streaming / baseline '
                     'time (median)', '(best-of)', 'streaming / paired '
                     'frames/s'], ratio_rows)
    return lines + [f'- {note}' for note in s['notes']] + ['']


def _training(s: dict) -> List[str]:
    lines = [f'Batch {s["batch"]}, {s["size"]}x{s["size"]}, p = '
             f'{s["num_parts"]}; AMP = autocast({s["amp_dtype"]}); compiled '
             f'= torch.compile(model.loss), backend {s["compile_backend"]}, '
             'fp32.', '']
    rows = []
    for name in ('fp32', 'amp', 'amp_channels_last', 'compiled'):
        v = s[name]
        rows.append([name, v['median_ms'], v['min_ms'], v['peak_mem_mb'],
                     f'{v["speedup_over_fp32"]:.2f}', v.get('ops_per_step'),
                     v.get('casts_per_step'), f'{v["loss"]:.4f}'])
    return lines + _table(['variant', 'median ms/step', 'min ms',
                           'peak MiB', 'speed-up vs fp32', 'aten ops/step',
                           'casts', 'loss'], rows)


def _video(s: dict) -> List[str]:
    rows = []
    for name, run in s['clips'].items():
        summary = run.get('summary') or {}
        stages = summary.get('ms_per_frame') or {}
        rows.append([name, run['size'], run['frames'], run['returncode'],
                     summary.get('fps'), run.get('output_frames'),
                     stages.get('decode'), stages.get('model'),
                     stages.get('encode'), summary.get('bound') or '-',
                     run['wall_s']])
    lines = _table(['clip', 'size', 'frames', 'exit', 'frames/s',
                    'frames written', 'decode ms/frame', 'model ms/frame',
                    'render/encode ms/frame', 'bound by', 'wall s'], rows)
    lines += [f'Options: `{s["options"]}`. Stage times: "-" where '
              "infer_video's summary does not give them.", '']
    for name, run in s['clips'].items():
        if run['returncode'] != 0:
            lines += [f'{name} failed: ' + ' / '.join(
                f'`{x}`' for x in run.get('stderr_tail', [])), '']
    return lines


def _recipe(s: dict) -> List[str]:
    rows = []
    for key in ('first', 'resumed'):
        if key in s:
            rows.append([key, s[key]['returncode'], s[key]['wall_s']])
    lines = _table(['run', 'exit', 'wall s'], rows)
    facts = [
        ('iterations per epoch', s.get('iterations_per_epoch')),
        ('expected / final iteration', f'{s.get("expected_iterations")} / '
         f'{_fmt(s.get("final_iteration"))}'),
        ('checkpoint after the first run', s.get('checkpoint_after_first')),
        ('AMP loss scaler in the checkpoint',
         s.get('amp_loss_scaler_saved')),
        ('loss first / last logged', f'{_fmt(s.get("loss_first"), 3)} / '
         f'{_fmt(s.get("loss_last"), 3)}'),
        ('losses finite', s.get('losses_finite')),
        ('median s/iter (MMEngine log)', _fmt(s.get('s_per_iter_median'),
                                              3)),
        ('max memory MiB (MMEngine log)', s.get('memory_mb_max')),
        ('validation', s.get('validation')),
    ]
    lines += _table(['', 'value'], [[k, _fmt(v)] for k, v in facts])
    for key in ('first', 'resumed'):
        if key in s and s[key]['returncode'] != 0:
            lines += [f'{key} failed: ' + ' / '.join(
                f'`{x}`' for x in s[key].get('stderr_tail', [])), '']
    return lines


def _nvenc(s: dict) -> List[str]:
    rows = [[codec, r['listed'], r['encoded'], r['error'] or '']
            for codec, r in s.items() if isinstance(r, dict)]
    return _table(['encoder', 'in PyAV\'s FFmpeg', 'packets encoded',
                   'error'], rows)


SECTIONS = (
    ('cuda_tests', 'CUDA tests', _tests),
    ('inference', 'Inference', _inference),
    ('training', 'Training step', _training),
    ('video', 'infer_video end to end', _video),
    ('recipe', 'Paper recipe on generated data, then --resume', _recipe),
    ('nvenc', 'NVENC', _nvenc),
)


def render(report: dict) -> str:
    """The Markdown page of a report (the dict written as JSON).

    Args:
        report (dict): ``device``, ``torch``, ``date``, ``settings``,
            ``sections`` (name -> result, or ``error`` and ``wall_s``) and
            ``wall_s``.

    Returns:
        str: The page.
    """
    lines = [f'# GPU report: {report["device"]}', '',
             f'{report["date"]}; torch {report["torch"]}, CUDA '
             f'{report["cuda"]}; `{report["command"]}`; '
             f'{report["wall_s"]:.0f} s in all.', '']
    if report['settings'].get('tiny'):
        lines += ['**Tiny sizes** (a check of the tool, not a measurement '
                  'to quote).', '']
    for key, title, render_section in SECTIONS:
        section = report['sections'].get(key)
        if section is None:
            continue
        lines += [f'## {title}', '']
        if 'error' in section:
            lines += _failed(section)
        else:
            lines += render_section(section['result'])
            lines += [f'({section["wall_s"]:.0f} s)', '']
    return '\n'.join(lines).rstrip() + '\n'
