# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from .jf_core import evaluate_frame
from .jf_summary import (default_output_dir, format_table,
                         metrics_in_percent, summarize, write_summary)


@METRICS.register_module()
class JFMetric(BaseMetric):
    """J&F of video object segmentation, as the DAVIS / MVPS evaluation.

    ``process`` scores every frame at the ground truth's resolution
    (prediction binarised by the model at 0.5) and keeps only scalars and a
    compressed error map per frame, so distributed evaluation gathers little
    and works with the frames of one clip spread over ranks.
    ``compute_metrics`` groups frames by ``seq_name``, orders them by
    ``frame_idx`` and reports J / F Mean, Recall and Decay, J&F and the
    temporal instability T (docs/evaluation.md), overall, per MVPS scenario
    category and per sequence; the tables are logged and written as
    ``jf_results.json`` / ``jf_results.csv``.

    Args:
        keep_first_last (bool): Keep the first and last annotated frames
            (dropped by default, as the MVPS evaluation). Defaults to False.
        output_dir (str, optional): Where to write the JSON and CSV files;
            None uses the runner's log folder when there is one.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    default_prefix: Optional[str] = None

    def __init__(self, keep_first_last: bool = False,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.keep_first_last = keep_first_last
        self.output_dir = output_dir

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy()
            gt = sample['gt_sem_seg']['data'].squeeze(0).cpu().numpy()
            if pred.shape != gt.shape:  # e.g. padded or resized inputs
                pred = cv2.resize(pred.astype(np.uint8), gt.shape[::-1],
                                  interpolation=cv2.INTER_NEAREST)
            frame = evaluate_frame(pred > 0, gt > 0)
            missing = [k for k in ('seq_name', 'frame_idx') if k not in sample]
            if missing:
                raise KeyError(f'{sample.get("img_path", "sample")}: JFMetric '
                               f'needs metainfo {missing}')
            frame.update(seq_name=sample['seq_name'],
                         frame_idx=int(sample['frame_idx']),
                         category=sample.get('category'))
            self.results.append(frame)

    def compute_metrics(self, results: List[dict]) -> dict:
        summary = summarize(results, self.keep_first_last)
        print_log('\n' + format_table(summary), logger='current')
        out_dir = self.output_dir or default_output_dir()
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            write_summary(summary, osp.join(out_dir, 'jf_results.json'),
                          osp.join(out_dir, 'jf_results.csv'))
            print_log(f'J&F tables written to {out_dir}/jf_results.{{json,'
                      'csv}}', logger='current')
        return metrics_in_percent(summary)
