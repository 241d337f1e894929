# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from .binarize import (Threshold, binarize_probability, check_threshold,
                       describe_threshold, threshold_name)
from .jf_core import evaluate_frame
from .jf_summary import (format_table, metrics_in_percent, summarize,
                         write_summary)


def _runner_log_dir() -> Optional[str]:
    """Folder of the current MMEngine log file (``work_dir/<timestamp>``
    during a runner's test / val), or None when nothing logs to a file."""
    log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
    return osp.dirname(osp.abspath(log_file)) if log_file else None


@METRICS.register_module()
class JFMetric(BaseMetric):
    """J&F of video object segmentation, exactly as DAVIS / MVPS compute it.

    ``process`` binarises each frame's foreground probability at the
    ground truth's resolution, scores it, and keeps only J, F and the two
    masks as compressed bits (for the temporal stability), so distributed
    evaluation gathers little and works with the frames of one clip spread
    over ranks. ``compute_metrics`` groups frames by ``seq_name``, orders
    them by ``frame_idx`` and reports J / F Mean, Recall and Decay, J&F and
    the temporal stability (docs/evaluation.md), overall, per MVPS scenario
    (``category``) and per sequence. The tables are logged and written as
    ``jf_results.json`` and ``jf_results.csv`` (fractions in [0, 1]).

    Binarisation (docs/evaluation.md, "Two protocols"): ``threshold=0.5``
    (default) is the DAVIS-style ``p >= 0.5``; ``'authors'`` reproduces the
    PDNet authors' protocol (``round(255 p)`` result PNGs, any non-zero
    pixel is foreground, i.e. ``p > 1/510``), which gave the paper's
    numbers. ``extra_thresholds`` scores further protocols in the same
    pass: their metrics are named ``<name>/J&F``, ``<name>/J_mean``, ...
    with ``<name>`` ``'authors'`` or ``'th<t>'`` (e.g. ``'th0.3'``), their
    tables are logged too and written as ``jf_results_<name>.json`` /
    ``.csv``. Each JSON records its rule under ``binarisation``.

    The metric binarises the probability ``seg_logits`` itself, so the
    model's ``test_cfg.threshold`` does not change its scores. A sample
    without ``seg_logits`` is scored with its ``pred_sem_seg`` (the model's
    own mask) when the only protocol is the default 0.5; any other protocol
    then is an error naming the sample's file.

    Each data sample needs ``gt_sem_seg``, ``seg_logits`` (or
    ``pred_sem_seg``, see above) and the metainfo ``seq_name`` and
    ``frame_idx``; ``num_frames`` (annotated frames of the clip, used to
    find its last frame and to warn about missing ones) and ``category``
    are used when present.

    Args:
        threshold (float | str): Binarisation of the primary metrics: a
            float ``t`` in (0, 1), foreground iff ``p >= t``, or
            ``'authors'``. Defaults to 0.5.
        extra_thresholds (Sequence[float | str]): Further binarisations to
            report in the same pass, e.g. ``['authors']``. Defaults to ().
        keep_first_last (bool): Keep the first and last annotated frames of
            each clip (dropped by default, as the DAVIS / MVPS evaluation
            does). Defaults to False.
        output_dir (str, optional): Folder for the JSON and CSV files. None
            (default) uses the folder of the runner's log file when a runner
            logs to a file, and writes nothing otherwise.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names.

    Returns (of ``evaluate``):
        dict: ``J&F``, ``J_mean``, ``J_recall``, ``J_decay``, ``F_mean``,
        ``F_recall``, ``F_decay`` and ``stability``, in percent, then the
        same keys prefixed ``<name>/`` for each of ``extra_thresholds``.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 threshold: Threshold = 0.5,
                 extra_thresholds: Sequence[Threshold] = (),
                 keep_first_last: bool = False,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(extra_thresholds, (str, float, int)):
            extra_thresholds = [extra_thresholds]
        self.threshold = check_threshold(threshold)
        self.extra_thresholds = [check_threshold(t) for t in extra_thresholds]
        names = [threshold_name(t)
                 for t in [self.threshold] + self.extra_thresholds]
        if len(set(names)) != len(names):
            raise ValueError(f'JFMetric: threshold {threshold!r} and '
                             f'extra_thresholds {list(extra_thresholds)!r} '
                             'repeat a binarisation')
        self.extra_names = names[1:]
        self.keep_first_last = keep_first_last
        self.output_dir = output_dir
        self._warned_no_prob = False

    @staticmethod
    def _data(sample: dict, key: str):
        """``sample[key].data`` checked to be ``(1, H, W)``; ``(H, W)``
        tensor."""
        if key not in sample:
            raise KeyError(f'{sample.get("img_path", "sample")}: JFMetric '
                           f'needs {key!r} in the data sample')
        data = sample[key]['data']
        if data.ndim != 3 or data.shape[0] != 1:
            raise ValueError(f'{sample.get("img_path", "sample")}: {key} '
                             f'must be (1, H, W), got {tuple(data.shape)}')
        return data[0]

    def _mask(self, sample: dict, key: str) -> np.ndarray:
        return (self._data(sample, key) > 0).cpu().numpy()

    def _probability(self, sample: dict) -> Optional[np.ndarray]:
        """The foreground probability ``(H, W)`` float, None when absent."""
        if 'seg_logits' not in sample:
            return None
        name = sample.get('img_path', 'sample')
        prob = self._data(sample, 'seg_logits')
        if not prob.is_floating_point():
            raise ValueError(f'{name}: seg_logits must be floating-point '
                             f'foreground probabilities, got {prob.dtype}')
        # float32, as SaveMasksHook's PNGs: identical 'authors' masks
        prob = prob.float().cpu().numpy()
        if prob.size and not 0 <= prob.min() <= prob.max() <= 1:
            raise ValueError(
                f'{name}: seg_logits must hold foreground probabilities in '
                f'[0, 1] (got {prob.min():g}..{prob.max():g}); JFMetric '
                'binarises probabilities, not logits')
        return prob

    def _predictions(self, sample: dict) -> List[np.ndarray]:
        """One ``(H0, W0)`` bool mask per protocol (primary first)."""
        thresholds = [self.threshold] + self.extra_thresholds
        prob = self._probability(sample)
        if prob is not None:
            return [binarize_probability(prob, t) for t in thresholds]
        name = sample.get('img_path', 'sample')
        if thresholds != [0.5]:
            raise KeyError(
                f'{name}: JFMetric with threshold {self.threshold!r} and '
                f'extra_thresholds {self.extra_thresholds!r} needs the '
                "foreground probability 'seg_logits' in the data sample")
        if 'pred_sem_seg' not in sample:
            raise KeyError(f'{name}: JFMetric needs \'seg_logits\' or '
                           '\'pred_sem_seg\' in the data sample')
        if not self._warned_no_prob:
            print_log(f'JFMetric: {name} has no seg_logits; scoring the '
                      "model's pred_sem_seg instead of p >= 0.5", 'current',
                      level=30)
            self._warned_no_prob = True
        return [self._mask(sample, 'pred_sem_seg')]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each frame; keep scalars and compressed masks only.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts:
                ``seg_logits.data`` ``(1, H0, W0)`` foreground probability
                (or ``pred_sem_seg.data`` ``(1, H0, W0)`` 0/1, see the class
                docstring), ``gt_sem_seg.data`` ``(1, H, W)`` 0/1 and the
                metainfo.
        """
        for sample in data_samples:
            name = sample.get('img_path', 'sample')
            missing = [k for k in ('seq_name', 'frame_idx') if k not in sample]
            if missing:
                raise KeyError(f'{name}: JFMetric needs metainfo {missing}')
            gt = self._mask(sample, 'gt_sem_seg')
            scored = []
            for pred in self._predictions(sample):
                if pred.shape != gt.shape:
                    # e.g. a model that did not resize to ori_shape:
                    # nearest, so the mask stays binary
                    pred = cv2.resize(pred.astype(np.uint8), gt.shape[::-1],
                                      interpolation=cv2.INTER_NEAREST)
                # protocols often agree on a frame: score that mask once
                same = next((s for p, s in scored
                             if np.array_equal(p, pred)), None)
                scored.append((pred, same or evaluate_frame(pred, gt)))
            frame = scored[0][1]
            frame.update(
                seq_name=str(sample['seq_name']),
                frame_idx=int(sample['frame_idx']),
                num_frames=(None if sample.get('num_frames') is None else int(
                    sample['num_frames'])),
                category=sample.get('category'))
            if self.extra_names:  # the ground truth is kept once
                frame['extra'] = {
                    n: {k: s[k] for k in ('J', 'F', 'pred')}
                    for n, (_, s) in zip(self.extra_names, scored[1:])
                }
            self.results.append(frame)

    def _report(self, frames: List[dict], threshold: Threshold,
                suffix: str) -> dict:
        """Summarise, log and write one protocol; returns the summary."""
        summary = summarize(frames, self.keep_first_last)
        summary['binarisation'] = describe_threshold(threshold)
        print_log(f'J&F (DAVIS/MVPS semantics, %; stability: '
                  f'docs/evaluation.md), binarisation: '
                  f'{summary["binarisation"]}\n' + format_table(summary),
                  logger='current')
        out_dir = self.output_dir or _runner_log_dir()
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            stem = osp.join(out_dir, f'jf_results{suffix}')
            write_summary(summary, stem + '.json', stem + '.csv')
            print_log(f'J&F results written to {stem}.json and '
                      f'{osp.basename(stem)}.csv (binarisation: '
                      f'{summary["binarisation"]})', logger='current')
        return summary

    def compute_metrics(self, results: List[dict]) -> dict:
        """Summarise the gathered per-frame results (rank 0 only).

        Args:
            results (list[dict]): per-frame results of all ranks.

        Returns:
            dict: the metrics in percent (see the class docstring).
        """
        metrics = metrics_in_percent(
            self._report(results, self.threshold, ''))
        for name, threshold in zip(self.extra_names, self.extra_thresholds):
            frames = [{**r, **r['extra'][name]} for r in results]
            extra = metrics_in_percent(
                self._report(frames, threshold, f'_{name}'))
            metrics.update({f'{name}/{k}': v for k, v in extra.items()})
        return metrics
