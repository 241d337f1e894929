# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..image_io import DatasetError, read_frame, read_mask, read_soft_mask


def _dataset_error(fn, path):
    """Call ``fn(path)``; its ``ValueError`` (a bad file, named in the
    message) becomes a :class:`DatasetError`, which the train and test
    tools print as one line."""
    try:
        return fn(path)
    except DatasetError:
        raise
    except ValueError as e:
        raise DatasetError(str(e)) from None


@TRANSFORMS.register_module()
class LoadPairedImages(BaseTransform):
    """Load the target frame and its reference frame(s).

    Grayscale and RGBA frames become 3-channel BGR; unreadable, empty,
    truncated or too large files raise a
    :class:`~mmseg_pdnet.datasets.DatasetError` naming the file. All frames of a pair
    must have the same size.

    Required Keys:

    - img_path
    - ref_img_paths

    Added Keys:

    - img: ``(H, W, 3)`` uint8 BGR
    - ref_imgs: list of ``(H, W, 3)`` uint8 BGR
    - img_shape
    - ori_shape
    """

    def transform(self, results: dict) -> dict:
        """Load the frames of one sample.

        Args:
            results (dict): Result dict with the frame paths.

        Returns:
            dict: The results with the frames and their shape.
        """
        img = _dataset_error(read_frame, results['img_path'])
        refs = [_dataset_error(read_frame, p)
                for p in results['ref_img_paths']]
        for path, ref in zip(results['ref_img_paths'], refs):
            if ref.shape != img.shape:
                raise DatasetError(
                    f'{path}: reference frame size {ref.shape[:2]} differs '
                    f'from target {results["img_path"]} {img.shape[:2]}')
        results.update(img=img, ref_imgs=refs, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
        return results


@TRANSFORMS.register_module()
class LoadPairedAnnotations(BaseTransform):
    """Load the target mask (and the reference masks).

    Binary mode (default) gives 0/1 uint8 masks: 0/255, 0/1 and palette
    masks are accepted (any id > 0 is portrait). Soft mode
    (``soft_masks=True``, training) gives float32 masks in [0, 1] as the
    PDNet authors' loader (docs/fidelity.md): the 8-bit value / 255, so
    the crop, flip and bilinear resize that follow produce fractional
    targets at portrait boundaries, and nothing binarises them before the
    losses (see :func:`~mmseg_pdnet.datasets.image_io.read_soft_mask`).
    A mask whose size differs from its frame raises an error naming both.

    Required Keys:

    - seg_map_path
    - ref_seg_map_paths (with ``with_ref=True``)
    - img_path, ref_img_paths (named in the size errors)
    - ori_shape

    Added Keys:

    - gt_seg_map: ``(H, W)``, uint8 0/1, or float32 in [0, 1] with
      ``soft_masks=True``
    - ref_gt_seg_maps (with ``with_ref=True``): list of ``(H, W)``, same
      dtype
    - seg_fields: ``'gt_seg_map'`` appended

    Args:
        with_ref (bool): Also load ``ref_seg_map_paths`` (training).
            Defaults to True. In test pipelines put this transform AFTER
            the resize with ``with_ref=False``, so the target mask keeps the
            original resolution for evaluation, as in MMSeg.
        soft_masks (bool): Load float32 masks in [0, 1] (training) instead
            of 0/1 uint8 (evaluation). Defaults to False.
    """

    def __init__(self, with_ref: bool = True, soft_masks: bool = False):
        self.with_ref = with_ref
        self.soft_masks = soft_masks

    def _load(self, path: str, frame_path: str, shape):
        mask = _dataset_error(
            read_soft_mask if self.soft_masks else read_mask, path)
        if mask.shape != tuple(shape):
            raise DatasetError(f'{path}: mask size {mask.shape} differs from '
                             f'its frame {frame_path} {tuple(shape)}')
        return mask

    def transform(self, results: dict) -> dict:
        """Load the mask(s) of one sample.

        Args:
            results (dict): Result dict with the mask paths.

        Returns:
            dict: The results with the mask(s).
        """
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
        return (f'{self.__class__.__name__}(with_ref={self.with_ref}, '
                f'soft_masks={self.soft_masks})')
