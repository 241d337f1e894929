# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..image_io import read_frame, read_mask


@TRANSFORMS.register_module()
class LoadPairedImages(BaseTransform):
    """Load the target frame and its reference frame(s).

    Grayscale and RGBA frames become 3-channel BGR; unreadable, empty or
    truncated files raise an error naming the file. All frames of a pair
    must have the same size.

    Required keys: ``img_path``, ``ref_img_paths``.
    Added keys: ``img`` ``(H, W, 3)``, ``ref_imgs`` (list of ``(H, W, 3)``),
    ``img_shape``, ``ori_shape``.
    """

    def transform(self, results: dict) -> dict:
        img = read_frame(results['img_path'])
        refs = [read_frame(p) for p in results['ref_img_paths']]
        for path, ref in zip(results['ref_img_paths'], refs):
            if ref.shape != img.shape:
                raise ValueError(
                    f'{path}: reference frame size {ref.shape[:2]} differs '
                    f'from target {results["img_path"]} {img.shape[:2]}')
        results.update(img=img, ref_imgs=refs, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
        return results


@TRANSFORMS.register_module()
class LoadPairedAnnotations(BaseTransform):
    """Load the target mask (and the reference masks) as 0/1 arrays.

    0/255, 0/1 and palette masks are accepted (any id > 0 is portrait).
    A mask whose size differs from its frame raises an error naming both.

    Args:
        with_ref (bool): Also load ``ref_seg_map_paths`` (training).
            Defaults to True. In test pipelines put this transform AFTER
            the resize with ``with_ref=False``, so the target mask keeps the
            original resolution for evaluation, as in MMSeg.

    Required keys: ``seg_map_path`` (+ ``ref_seg_map_paths``), ``ori_shape``.
    Added keys: ``gt_seg_map`` ``(H, W)``, ``ref_gt_seg_maps``, ``seg_fields``.
    """

    def __init__(self, with_ref: bool = True):
        self.with_ref = with_ref

    def _load(self, path: str, frame_path: str, shape) -> 'np.ndarray':
        mask = read_mask(path)
        if mask.shape != tuple(shape):
            raise ValueError(f'{path}: mask size {mask.shape} differs from '
                             f'its frame {frame_path} {tuple(shape)}')
        return mask

    def transform(self, results: dict) -> dict:
        shape = results['ori_shape']
        results['gt_seg_map'] = self._load(results['seg_map_path'],
                                           results['img_path'], shape)
        results.setdefault('seg_fields', []).append('gt_seg_map')
        if self.with_ref:
            results['ref_gt_seg_maps'] = [
                self._load(p, f, shape) for p, f in zip(
                    results['ref_seg_map_paths'], results['ref_img_paths'])
            ]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(with_ref={self.with_ref})'
