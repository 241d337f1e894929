# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...apis.compositing import colour_parts, overlay
from ...datasets.image_io import read_frame


@HOOKS.register_module()
class PairVisualizationHook(Hook):
    """Save target | reference | prediction | ground truth | parts panels.

    For every ``interval``-th validation/test sample, writes one PNG with,
    side by side at the original frame size: the target frame, the
    (first) reference frame, the prediction overlaid on the target, the
    ground truth overlaid on the target and the coloured part maps R_t^k
    (as the paper's figure 8). Files go to ``out_dir`` or, with MMSeg's
    ``tools/test.py --show-dir DIR`` (which sets the visualizer's save
    dir), to ``DIR/vis_pairs``.

    Args:
        interval (int): Visualise every ``interval``-th sample. Default 10.
        out_dir (str, optional): Output folder.
        draw (bool, optional): Enable the hook. None (default) draws only
            when ``out_dir`` is given or the visualizer has a save dir
            (``--show-dir``), so it costs nothing in plain validation.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 10, out_dir: Optional[str] = None,
                 draw: Optional[bool] = None):
        self.interval = interval
        self.out_dir = out_dir
        self.draw = draw
        self._count = 0

    def _folder(self, runner) -> Optional[str]:
        if self.out_dir:
            return self.out_dir
        save_dir = getattr(runner.visualizer, '_save_dir', None)
        return osp.join(save_dir, 'vis_pairs') if save_dir else None

    @staticmethod
    def panels(sample) -> np.ndarray:
        """The side-by-side panel image of one predicted sample."""
        meta = sample.metainfo
        target = read_frame(meta['img_path'])
        ref_path = (meta.get('ref_img_paths') or [meta['img_path']])[0]
        reference = read_frame(ref_path)
        pred = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
        if pred.shape != target.shape[:2]:
            pred = cv2.resize(pred, target.shape[1::-1],
                              interpolation=cv2.INTER_NEAREST)
        tiles = [target, reference, overlay(target, pred)]
        if 'gt_sem_seg' in sample:
            gt = sample.gt_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            if gt.shape == target.shape[:2]:
                tiles.append(overlay(target, gt, color=(0, 0, 220)))
        if 'pred_parts' in sample:
            tiles.append(colour_parts(sample.pred_parts.data.cpu().numpy(),
                                      target.shape[:2]))
        return np.hstack(tiles)

    def _visualise(self, runner, outputs: Sequence) -> None:
        folder = self._folder(runner)
        if self.draw is False or (self.draw is None and folder is None):
            return
        if folder is None:
            folder = osp.join(runner.log_dir, 'vis_pairs')
        for sample in outputs:
            self._count += 1
            if (self._count - 1) % self.interval:
                continue
            meta = sample.metainfo
            name = meta.get('frame_name') or osp.splitext(
                osp.basename(meta['img_path']))[0]
            seq = meta.get('seq_name') or ''
            seq_dir = osp.join(folder, seq)
            os.makedirs(seq_dir, exist_ok=True)
            cv2.imwrite(osp.join(seq_dir, f'{name}.png'),
                        self.panels(sample))

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        self._visualise(runner, outputs or [])

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._visualise(runner, outputs or [])
