# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample

from mmseg_pdnet.evaluation.metrics.binarize import quantize_probability


@HOOKS.register_module()
class SaveMasksHook(Hook):
    """Write the test predictions as mask PNGs, one folder per clip.

    Masks go to ``<out_dir>/<seq_name>/<frame_name>.png`` (uint8, 0 or 255:
    the model's ``pred_sem_seg``, at the ground truth's resolution), the
    layout of MVPS/DAVIS result folders that ``tools/eval_masks.py`` reads.
    With ``prob_dir``, the foreground probabilities go to
    ``<prob_dir>/<seq_name>/<frame_name>.png`` as ``round(255 * p)``
    (:func:`~mmseg_pdnet.evaluation.quantize_probability`: float32, round
    half to even, at the ground truth's resolution): the PDNet authors'
    result PNGs. The MVPS evaluation code counts any non-zero pixel of them
    as foreground (``tools/eval_masks.py --pred-format mvps``, the same
    masks as ``JFMetric(threshold='authors')``); ``--pred-format prob``
    scores them at ``p >= 0.5``. ``tools/test.py --out DIR [--out-prob]``
    adds this hook (probabilities to ``DIR_prob``).

    Args:
        out_dir (str): Folder of the binarised masks.
        prob_dir (str, optional): Folder of the probability maps.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, prob_dir: Optional[str] = None):
        self.out_dir = out_dir
        self.prob_dir = prob_dir

    @staticmethod
    def _path(root: str, sample: SegDataSample) -> str:
        for key in ('seq_name', 'frame_name'):
            if key not in sample.metainfo:
                raise KeyError(f'SaveMasksHook needs metainfo {key!r} (see '
                               'docs/architecture.md); sample of '
                               f'{sample.metainfo.get("img_path")} has none')
        return osp.join(root, str(sample.seq_name),
                        f'{sample.frame_name}.png')

    @staticmethod
    def _write(path: str, array: np.ndarray, sample: SegDataSample) -> None:
        # ori_shape is the ground truth's size (LoadPairedAnnotations checks)
        ori_shape = sample.metainfo.get('ori_shape')
        if ori_shape is not None and array.shape != tuple(ori_shape[:2]):
            raise ValueError(f'SaveMasksHook: {path}: prediction size '
                             f'{array.shape} differs from the ground truth\'s '
                             f'(ori_shape) {tuple(ori_shape[:2])}')
        os.makedirs(osp.dirname(path), exist_ok=True)
        if not cv2.imwrite(path, array):
            raise OSError(f'could not write {path}')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence[SegDataSample]] = None
                        ) -> None:
        for sample in outputs or []:
            for key in ['pred_sem_seg'] + (['seg_logits']
                                           if self.prob_dir else []):
                if key not in sample:
                    raise KeyError(f'SaveMasksHook: prediction without {key} '
                                   f'for {self._path("", sample)}')
            mask = sample.pred_sem_seg.data.squeeze(0).cpu().numpy()
            self._write(self._path(self.out_dir, sample),
                        (mask > 0).astype(np.uint8) * 255, sample)
            if self.prob_dir is not None:
                prob = sample.seg_logits.data.squeeze(0).float().cpu().numpy()
                self._write(self._path(self.prob_dir, sample),
                            quantize_probability(prob), sample)
