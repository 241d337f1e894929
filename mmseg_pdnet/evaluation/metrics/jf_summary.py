# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Per-sequence, per-category and dataset-level J&F summaries."""
import csv
import json
import math
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np
from mmengine.logging import print_log

from .jf_core import STATS, sequence_statistics, temporal_instability


def _nanmean(values: List[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def summarize(frames: List[dict], keep_first_last: bool = False) -> dict:
    """Group per-frame results by sequence and compute the statistics.

    Args:
        frames (list[dict]): one dict per frame with ``seq_name``,
            ``frame_idx``, ``category`` (or None) and the output of
            :func:`evaluate_frame` (``J``, ``F``, ``gt_area``, ``error``).
            Order does not matter (frames may come from several ranks).
        keep_first_last (bool): Keep the first and last annotated frame of
            each sequence in J and F (the MVPS/DAVIS evaluation drops them).

    Returns:
        dict: fractions in [0, 1]: ``J&F``, ``J`` / ``F`` (``mean``,
        ``recall``, ``decay``), ``T`` (temporal instability, lower is
        better), ``per_sequence`` and ``per_category`` in the same form,
        and ``skipped`` (sequences left without frames after dropping the
        first and last one: they are excluded from the averages).
    """
    by_seq = defaultdict(list)
    for frame in frames:
        by_seq[frame['seq_name']].append(frame)
    per_sequence, categories, skipped = {}, {}, []
    for seq in sorted(by_seq):
        seq_frames = sorted(by_seq[seq], key=lambda f: f['frame_idx'])
        idx = [f['frame_idx'] for f in seq_frames]
        if len(set(idx)) != len(idx):
            raise ValueError(f'sequence {seq!r} has duplicate frame indices')
        scored = seq_frames if keep_first_last else seq_frames[1:-1]
        if not scored:
            skipped.append(seq)
        result = {
            m: sequence_statistics([f[m] for f in scored])
            for m in ('J', 'F')
        }
        result['T'] = temporal_instability([f['error'] for f in seq_frames],
                                           [f['gt_area'] for f in seq_frames])
        result['num_frames'] = len(seq_frames)
        per_sequence[seq] = result
        categories[seq] = seq_frames[0].get('category')

    def average(seqs: List[str]) -> dict:
        seqs = [s for s in seqs if s not in skipped]
        out = {
            m: {k: _nanmean([per_sequence[s][m][k] for s in seqs])
                for k in STATS}
            for m in ('J', 'F')
        }
        out['J&F'] = (out['J']['mean'] + out['F']['mean']) / 2
        out['T'] = _nanmean([per_sequence[s]['T'] for s in seqs])
        out['num_sequences'] = len(seqs)
        return out

    summary = average(list(per_sequence))
    per_category = {}
    for cat in sorted({c for c in categories.values() if c is not None}):
        per_category[cat] = average(
            [s for s, c in categories.items() if c == cat])
    if skipped:
        print_log(f'J&F: sequences with fewer than 3 annotated frames have '
                  f'no frame left after dropping the first and last one and '
                  f'are excluded from the averages: {skipped}',
                  logger='current', level=30)
    summary.update(per_sequence=per_sequence, per_category=per_category,
                   skipped=skipped)
    return summary


def _row(name: str, res: dict) -> list:
    jf = res.get('J&F', (res['J']['mean'] + res['F']['mean']) / 2)
    vals = [jf] + [res[m][k] for m in ('J', 'F') for k in STATS] + [res['T']]
    return [name] + [f'{100 * v:.1f}' for v in vals]


HEADER = ['', 'J&F', 'J Mean', 'J Recall', 'J Decay', 'F Mean', 'F Recall',
          'F Decay', 'T (instab.)']


def format_table(summary: dict) -> str:
    """Paper-table-1-style text table: dataset, categories, sequences."""
    from prettytable import PrettyTable
    table = PrettyTable(HEADER)
    table.add_row(_row('all', summary))
    for cat, res in summary['per_category'].items():
        table.add_row(_row(cat, res))
    for seq, res in summary['per_sequence'].items():
        table.add_row(_row(seq, res))
    return table.get_string()


def write_summary(summary: dict, json_path: Optional[str] = None,
                  csv_path: Optional[str] = None) -> None:
    """Write the summary as JSON (fractions) and/or CSV (one row per line
    of :func:`format_table`, in percent)."""
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(summary, f, indent=2, allow_nan=True)
    if csv_path:
        with open(csv_path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['name'] + HEADER[1:])
            writer.writerow(_row('all', summary))
            for group in ('per_category', 'per_sequence'):
                for name, res in summary[group].items():
                    writer.writerow(_row(name, res))


def metrics_in_percent(summary: dict) -> Dict[str, float]:
    """Flat MMEngine-style metrics dict (percentages)."""
    out = {'J&F': 100 * summary['J&F']}
    for m in ('J', 'F'):
        for k in STATS:
            out[f'{m}_{k}'] = 100 * summary[m][k]
    out['T_instability'] = 100 * summary['T']
    return out


def default_output_dir() -> Optional[str]:
    """The current MMEngine log folder, if a runner is logging to a file."""
    from mmengine.logging import MMLogger
    if not MMLogger.check_instance_created(MMLogger.get_current_instance(
    ).instance_name):
        return None
    log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
    return osp.dirname(log_file) if log_file else None
