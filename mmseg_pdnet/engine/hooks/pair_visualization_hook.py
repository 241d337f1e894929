# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...apis.compositing import colour_parts, overlay, put_title
from ...datasets.image_io import read_frame


@HOOKS.register_module()
class PairVisualizationHook(Hook):
    """Save target | reference | prediction | ground truth | parts panels.

    For every ``interval``-th validation/test sample, writes one PNG with,
    side by side at the original frame size: the target frame, the
    (first) reference frame, the prediction overlaid on the target, the
    ground truth overlaid on the target and the coloured part maps R_t^k
    (as the paper's figure 8); each panel carries a small title in its
    top-left corner. Files go to ``out_dir``, or next to the
    visualizer's images (``<save dir>/vis_pairs``: with
    ``tools/test.py --show-dir DIR``, under DIR).

    Args:
        interval (int): Visualise every ``interval``-th sample. Default 10.
        out_dir (str, optional): Output folder.
        draw (bool, optional): Enable the hook. None (default) follows
            MMSeg's ``SegVisualizationHook.draw``, which ``--show`` /
            ``--show-dir`` switch on, so plain validation costs nothing.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 10, out_dir: Optional[str] = None,
                 draw: Optional[bool] = None):
        self.interval = interval
        self.out_dir = out_dir
        self.draw = draw
        self._count = 0

    def _enabled(self, runner) -> bool:
        if self.draw is not None:
            return self.draw
        return any(type(h).__name__ == 'SegVisualizationHook'
                   and getattr(h, 'draw', False)
                   for h in getattr(runner, 'hooks', []))

    def _folder(self, runner) -> str:
        if self.out_dir:
            return self.out_dir
        backends = getattr(runner.visualizer, '_vis_backends', {}) or {}
        for backend in backends.values():
            save_dir = getattr(backend, '_save_dir', None)
            if save_dir:
                return osp.join(save_dir, 'vis_pairs')
        return osp.join(runner.log_dir, 'vis_pairs')

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
        tiles = [('target', target), ('reference', reference),
                 ('prediction', overlay(target, pred))]
        if 'gt_sem_seg' in sample:
            gt = sample.gt_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            if gt.shape == target.shape[:2]:
                tiles.append(('ground truth',
                              overlay(target, gt, color=(0, 0, 220))))
        if 'pred_parts' in sample:
            tiles.append(('parts', colour_parts(
                sample.pred_parts.data.cpu().numpy(), target.shape[:2])))
        # titles drawn inside the panels: the image keeps its size
        return np.hstack([put_title(tile, title) for title, tile in tiles])

    def _visualise(self, runner, outputs: Sequence) -> None:
        if not self._enabled(runner):
            return
        folder = self._folder(runner)
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
