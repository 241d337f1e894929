# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample


@TRANSFORMS.register_module()
class PackPairedSegInputs(BaseTransform):
    """Pack a frame pair into PDNet's inputs and a :obj:`SegDataSample`.

    ``inputs`` is a ``(3 * (1 + R), H, W)`` tensor of the frames' dtype
    (uint8; float32 after ``PairedResize(to_float32=True)``), target first,
    then the R references, BGR. ``gt_sem_seg`` is the target mask
    ``(1, H, W)`` and ``gt_ref_seg`` the reference masks ``(R, H, W)``
    (see docs/architecture.md): int64 0/1 for integer label masks
    (evaluation), float32 in [0, 1] for soft masks
    (``LoadPairedAnnotations(soft_masks=True)``, training), which are
    never rounded.

    Required Keys:

    - img
    - ref_imgs
    - gt_seg_map (optional)
    - ref_gt_seg_maps (optional)
    - the ``meta_keys`` (optional: those present are packed)

    Returned Keys (a new dict, as MMSeg's ``PackSegInputs``):

    - inputs
    - data_samples

    Args:
        meta_keys (tuple[str]): Keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys=('img_path', 'ref_img_paths', 'seg_map_path',
                            'ori_shape', 'img_shape', 'scale_factor', 'flip',
                            'flip_direction', 'seq_name', 'frame_idx',
                            'frame_name', 'num_frames', 'category',
                            'is_image')):
        self.meta_keys = meta_keys

    @staticmethod
    def _chw(img: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    @staticmethod
    def _mask(masks: np.ndarray) -> torch.Tensor:
        """Soft masks -> float32, label masks -> int64."""
        dtype = np.float32 if masks.dtype.kind == 'f' else np.int64
        return torch.from_numpy(masks.astype(dtype))

    def transform(self, results: dict) -> dict:
        """Pack the frames and masks of one sample.

        Args:
            results (dict): Result dict from the pipeline.

        Returns:
            dict: ``inputs`` (tensor) and ``data_samples``
            (:obj:`SegDataSample`).
        """
        frames = [results['img']] + list(results['ref_imgs'])
        inputs = torch.cat([self._chw(f) for f in frames], dim=0)
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            sample.gt_sem_seg = PixelData(
                data=self._mask(results['gt_seg_map'][None]))
        if 'ref_gt_seg_maps' in results:
            sample.gt_ref_seg = PixelData(
                data=self._mask(np.stack(results['ref_gt_seg_maps'])))
        sample.set_metainfo(
            {k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
