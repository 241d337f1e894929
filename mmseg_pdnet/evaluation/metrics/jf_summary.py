# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Per-sequence, per-category and dataset-level J&F summaries and tables.

The summary holds fractions in [0, 1] (NaN where undefined, written as
``null`` in JSON); :func:`metrics_in_percent` gives the MMEngine metrics.
"""
import csv
import json
import math
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np
from mmengine.logging import print_log

from .jf_core import STATS, sequence_statistics
from .temporal_stability import temporal_stability

MEASURES = ('J', 'F')


def _nanmean(values: List[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _sort_sequence(seq: str, frames: List[dict]) -> tuple:
    """Order a sequence's frames and check they are consistent.

    Returns:
        tuple: sorted frames, ``num_frames`` (annotated frames of the clip,
        from the metainfo or, without it, ``max(frame_idx) + 1``), category.
    """
    frames = sorted(frames, key=lambda f: f['frame_idx'])
    idx = [f['frame_idx'] for f in frames]
    if len(set(idx)) != len(idx):
        dup = sorted({i for i in idx if idx.count(i) > 1})
        raise ValueError(f'sequence {seq!r}: frame indices {dup} were '
                         f'evaluated more than once')
    cats = {f.get('category') for f in frames}
    totals = {f.get('num_frames') for f in frames}
    if len(cats) > 1 or len(totals) > 1:
        raise ValueError(f'sequence {seq!r}: frames disagree on category '
                         f'{cats} or num_frames {totals}')
    num = totals.pop()
    if num is None:
        num = idx[-1] + 1
    if idx[0] < 0 or idx[-1] >= num:
        raise ValueError(f'sequence {seq!r}: frame indices {idx[0]}..'
                         f'{idx[-1]} outside 0..{num - 1}')
    if len(idx) != num:
        print_log(f'J&F: sequence {seq!r} has {len(idx)} of its {num} '
                  f'annotated frames evaluated; scoring those', 'current',
                  level=30)
    return frames, num, cats.pop()


def _sequence_summary(seq: str, frames: List[dict],
                      keep_first_last: bool) -> dict:
    frames, num, category = _sort_sequence(seq, frames)
    if not keep_first_last:  # the clip's first and last annotated frames
        frames = [f for f in frames if 0 < f['frame_idx'] < num - 1]
    res = {m: sequence_statistics([f[m] for f in frames]) for m in MEASURES}
    res['J&F'] = (res['J']['mean'] + res['F']['mean']) / 2
    res['stability'] = temporal_stability(
        [f['frame_idx'] for f in frames], [f['pred'] for f in frames],
        [f['gt'] for f in frames])
    res.update(num_frames=num, num_scored=len(frames), category=category)
    return res


def _average(per_sequence: Dict[str, dict]) -> dict:
    """Mean of every statistic over sequences (NaN ones left out)."""
    out = {
        m: {k: _nanmean([r[m][k] for r in per_sequence.values()])
            for k in STATS}
        for m in MEASURES
    }
    out['J&F'] = (out['J']['mean'] + out['F']['mean']) / 2
    out['stability'] = _nanmean(
        [r['stability'] for r in per_sequence.values()])
    out['num_sequences'] = sum(r['num_scored'] > 0
                               for r in per_sequence.values())
    return out


def summarize(frames: List[dict], keep_first_last: bool = False) -> dict:
    """Group per-frame results by sequence and compute the statistics.

    Args:
        frames (list[dict]): one dict per frame with ``seq_name``,
            ``frame_idx``, optional ``num_frames`` and ``category`` and the
            output of :func:`evaluate_frame`. Order does not matter (frames
            may come from several ranks).
        keep_first_last (bool): Keep the first (``frame_idx == 0``) and last
            (``num_frames - 1``) annotated frame of each clip; DAVIS and MVPS
            drop them. Defaults to False.

    Returns:
        dict: ``J&F``, ``J`` / ``F`` (``mean``, ``recall``, ``decay``),
        ``stability``, ``num_sequences`` (those with a scored frame),
        ``per_category`` (same keys, categories present, sorted),
        ``per_sequence`` (same plus ``num_frames``, ``num_scored``,
        ``category``), ``excluded`` (sequences left without a scored frame:
        NaN, left out of every average) and ``keep_first_last``.
    """
    if not frames:
        raise ValueError('J&F: no frame was evaluated')
    by_seq = defaultdict(list)
    for frame in frames:
        by_seq[frame['seq_name']].append(frame)
    per_sequence = {
        seq: _sequence_summary(seq, by_seq[seq], keep_first_last)
        for seq in sorted(by_seq)
    }
    excluded = [s for s, r in per_sequence.items() if r['num_scored'] == 0]
    if excluded:
        print_log(f'J&F: {excluded} have no frame left after dropping the '
                  f'first and last annotated frame (fewer than 3 frames) and '
                  f'are left out of the averages', 'current', level=30)
    no_pair = [s for s, r in per_sequence.items()
               if r['num_scored'] > 0 and math.isnan(r['stability'])]
    if no_pair:
        print_log(f'J&F: {no_pair} have no two consecutive scored frames and '
                  f'are left out of the stability average', 'current',
                  level=30)
    summary = _average(per_sequence)
    categories = sorted({r['category'] for r in per_sequence.values()
                         if r['category'] is not None})
    summary['per_category'] = {
        cat: _average({s: r for s, r in per_sequence.items()
                       if r['category'] == cat})
        for cat in categories
    }
    summary.update(per_sequence=per_sequence, excluded=excluded,
                   keep_first_last=keep_first_last)
    return summary


HEADER = ['J&F', 'J Mean', 'J Recall', 'J Decay', 'F Mean', 'F Recall',
          'F Decay', 'Stability']


def _values(res: dict) -> List[float]:
    return ([res['J&F']] + [res[m][k] for m in MEASURES for k in STATS] +
            [res['stability']])


def _pct(value: float) -> str:
    return '-' if math.isnan(value) else f'{100 * value:.1f}'


def format_table(summary: dict) -> str:
    """Paper-table-1-style tables (percent): overall, per category, per
    sequence."""
    from prettytable import PrettyTable

    def table(first: str, rows: Dict[str, dict]) -> str:
        t = PrettyTable([first] + HEADER)
        for name, res in rows.items():
            t.add_row([name] + [_pct(v) for v in _values(res)])
        return t.get_string()

    parts = [table('', {'all': summary})]
    if summary['per_category']:
        parts.append(table('scenario', summary['per_category']))
    parts.append(table('sequence', summary['per_sequence']))
    return '\n'.join(parts)


def _json_ready(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_ready(v) for v in obj]
    return obj


def write_summary(summary: dict, json_path: Optional[str] = None,
                  csv_path: Optional[str] = None) -> None:
    """Write the summary as JSON (fractions, NaN as null) and/or CSV (one
    row per dataset / category / sequence, fractions, NaN empty)."""
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(_json_ready(summary), f, indent=2)
    if csv_path:
        groups = [('all', {'all': summary}),
                  ('category', summary['per_category']),
                  ('sequence', summary['per_sequence'])]
        with open(csv_path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['level', 'name'] + HEADER)
            for level, rows in groups:
                for name, res in rows.items():
                    writer.writerow([level, name] + [
                        '' if math.isnan(v) else f'{v:.6f}'
                        for v in _values(res)
                    ])


def metrics_in_percent(summary: dict) -> Dict[str, float]:
    """Flat MMEngine metrics dict in percent: ``J&F``, ``J_mean``,
    ``J_recall``, ``J_decay``, ``F_mean``, ``F_recall``, ``F_decay``,
    ``stability``."""
    out = {'J&F': 100 * summary['J&F']}
    for m in MEASURES:
        for k in STATS:
            out[f'{m}_{k}'] = 100 * summary[m][k]
    out['stability'] = 100 * summary['stability']
    return out
