# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

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

    ``process`` scores every frame at the ground truth's resolution (the
    model's ``pred_sem_seg``, already ``prob >= 0.5``) and keeps only J, F
    and the two masks as compressed bits (for the temporal stability), so
    distributed evaluation gathers little and works with the frames of one
    clip spread over ranks. ``compute_metrics`` groups frames by
    ``seq_name``, orders them by ``frame_idx`` and reports J / F Mean,
    Recall and Decay, J&F and the temporal stability (docs/evaluation.md),
    overall, per MVPS scenario (``category``) and per sequence. The tables
    are logged and written as ``jf_results.json`` and ``jf_results.csv``
    (fractions in [0, 1]).

    Each data sample needs ``pred_sem_seg``, ``gt_sem_seg`` and the metainfo
    ``seq_name`` and ``frame_idx``; ``num_frames`` (annotated frames of the
    clip, used to find its last frame and to warn about missing ones) and
    ``category`` are used when present.

    Args:
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
        ``F_recall``, ``F_decay`` and ``stability``, in percent.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 keep_first_last: bool = False,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.keep_first_last = keep_first_last
        self.output_dir = output_dir

    @staticmethod
    def _mask(sample: dict, key: str) -> np.ndarray:
        if key not in sample:
            raise KeyError(f'{sample.get("img_path", "sample")}: JFMetric '
                           f'needs {key!r} in the data sample')
        data = sample[key]['data']
        if data.ndim != 3 or data.shape[0] != 1:
            raise ValueError(f'{sample.get("img_path", "sample")}: {key} '
                             f'must be (1, H, W), got {tuple(data.shape)}')
        return (data[0] > 0).cpu().numpy()

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each frame; keep scalars and compressed masks only.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts:
                ``pred_sem_seg.data`` ``(1, H0, W0)`` 0/1,
                ``gt_sem_seg.data`` ``(1, H, W)`` 0/1 and the metainfo.
        """
        for sample in data_samples:
            name = sample.get('img_path', 'sample')
            missing = [k for k in ('seq_name', 'frame_idx') if k not in sample]
            if missing:
                raise KeyError(f'{name}: JFMetric needs metainfo {missing}')
            pred = self._mask(sample, 'pred_sem_seg')
            gt = self._mask(sample, 'gt_sem_seg')
            if pred.shape != gt.shape:
                # e.g. a model that did not resize to ori_shape: nearest,
                # so the mask stays binary
                pred = cv2.resize(pred.astype(np.uint8), gt.shape[::-1],
                                  interpolation=cv2.INTER_NEAREST)
            frame = evaluate_frame(pred, gt)
            frame.update(
                seq_name=str(sample['seq_name']),
                frame_idx=int(sample['frame_idx']),
                num_frames=(None if sample.get('num_frames') is None else int(
                    sample['num_frames'])),
                category=sample.get('category'))
            self.results.append(frame)

    def compute_metrics(self, results: List[dict]) -> dict:
        """Summarise the gathered per-frame results (rank 0 only).

        Args:
            results (list[dict]): per-frame results of all ranks.

        Returns:
            dict: the metrics in percent (see the class docstring).
        """
        summary = summarize(results, self.keep_first_last)
        print_log('J&F (DAVIS/MVPS semantics, %; stability: '
                  'docs/evaluation.md)\n' + format_table(summary),
                  logger='current')
        out_dir = self.output_dir or _runner_log_dir()
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            write_summary(summary, osp.join(out_dir, 'jf_results.json'),
                          osp.join(out_dir, 'jf_results.csv'))
            print_log(f'J&F results written to {out_dir}/jf_results.json '
                      'and jf_results.csv', logger='current')
        return metrics_in_percent(summary)
