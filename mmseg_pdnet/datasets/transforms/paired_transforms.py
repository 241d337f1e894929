# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Geometric/photometric transforms applied with SHARED random parameters
to the target frame, the reference frame(s) and their masks, as in the
authors' training (docs/fidelity.md).

Masks may be 0/1 integer label maps or soft float32 masks in [0, 1]
(``LoadPairedAnnotations(soft_masks=True)``); every transform keeps their
dtype."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def _apply(results: dict, img_fn, mask_fn) -> None:
    """Apply ``img_fn`` to every frame and ``mask_fn`` to every mask."""
    results['img'] = img_fn(results['img'])
    results['ref_imgs'] = [img_fn(x) for x in results.get('ref_imgs', [])]
    if 'gt_seg_map' in results:
        results['gt_seg_map'] = mask_fn(results['gt_seg_map'])
    if 'ref_gt_seg_maps' in results:
        results['ref_gt_seg_maps'] = [
            mask_fn(m) for m in results['ref_gt_seg_maps']
        ]
    results['img_shape'] = results['img'].shape[:2]


@TRANSFORMS.register_module()
class PairedRandomCrop(BaseTransform):
    """Random crop dropping up to ``max_drop`` of H and of W.

    The crop size is ``H - randint(0, H * max_drop)`` by
    ``W - randint(0, W * max_drop)`` at a random offset, the same for all
    frames and masks of the sample.

    Args:
        max_drop (float): Largest fraction removed per axis. Defaults 1/8.

    Modified keys: ``img``, ``ref_imgs``, ``img_shape``, ``gt_seg_map``
    and ``ref_gt_seg_maps`` (when present; dtype kept).
    """

    def __init__(self, max_drop: float = 1 / 8):
        if not 0 <= max_drop < 1:
            raise ValueError(f'max_drop must be in [0, 1), got {max_drop}')
        self.max_drop = max_drop

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        dh = np.random.randint(0, int(h * self.max_drop) + 1)
        dw = np.random.randint(0, int(w * self.max_drop) + 1)
        y0, x0 = np.random.randint(0, dh + 1), np.random.randint(0, dw + 1)
        crop = (slice(y0, y0 + h - dh), slice(x0, x0 + w - dw))
        _apply(results, lambda x: x[crop], lambda m: m[crop])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_drop={self.max_drop})'


@TRANSFORMS.register_module()
class PairedRandomFlip(BaseTransform):
    """Horizontal flip of all frames and masks together.

    Args:
        prob (float): Flip probability. Defaults to 0.5.

    Modified keys: ``img``, ``ref_imgs``, ``img_shape``, ``gt_seg_map``
    and ``ref_gt_seg_maps`` (when present; dtype kept).
    Added keys: ``flip``, ``flip_direction``.
    """

    def __init__(self, prob: float = 0.5):
        self.prob = prob

    def transform(self, results: dict) -> dict:
        flip = np.random.rand() < self.prob
        if flip:
            _apply(results, lambda x: np.ascontiguousarray(x[:, ::-1]),
                   lambda m: np.ascontiguousarray(m[:, ::-1]))
        results['flip'] = bool(flip)
        results['flip_direction'] = 'horizontal' if flip else None
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class PairedResize(BaseTransform):
    """Resize all frames and masks to ``scale``.

    Frames are resized bilinearly (``cv2.INTER_LINEAR``). Soft float masks
    are resized bilinearly too, as the authors' training, so their
    boundaries become fractional; integer 0/1 label masks use nearest
    neighbour and stay 0/1.

    Args:
        scale (int | tuple[int, int]): Output ``(H, W)``; an int is square.
            Defaults to 480.

    Required keys: ``img``, ``ref_imgs``, ``ori_shape``.
    Modified keys: ``img``, ``ref_imgs``, ``img_shape``, ``gt_seg_map``
    and ``ref_gt_seg_maps`` (when present; dtype kept).
    Added keys: ``scale_factor`` ``(w_scale, h_scale)``.
    """

    def __init__(self, scale: Union[int, Tuple[int, int]] = 480):
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)

    @staticmethod
    def _resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        # interpolating integer labels would invent classes; soft masks are
        # interpolated like images
        interp = (cv2.INTER_LINEAR
                  if mask.dtype.kind == 'f' else cv2.INTER_NEAREST)
        return cv2.resize(mask, size, interpolation=interp)

    def transform(self, results: dict) -> dict:
        h, w = self.scale
        _apply(results,
               lambda x: cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR),
               lambda m: self._resize_mask(m, (w, h)))
        results['scale_factor'] = (w / results['ori_shape'][1],
                                   h / results['ori_shape'][0])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale})'


@TRANSFORMS.register_module()
class PairedPhotoMetricDistortion(BaseTransform):
    """Per-frame brightness/contrast/saturation jitter (optional).

    Unlike the geometric transforms, each frame draws its own parameters
    (lighting changes between frames); masks are untouched.

    Args:
        brightness (float): Max absolute brightness shift. Defaults to 32.
        contrast (Sequence[float]): Contrast factor range.
        saturation (Sequence[float]): Saturation factor range.
        prob (float): Probability of distorting each frame.
    """

    def __init__(self, brightness: float = 32,
                 contrast: Sequence[float] = (0.5, 1.5),
                 saturation: Sequence[float] = (0.5, 1.5),
                 prob: float = 0.5):
        self.brightness, self.contrast = brightness, contrast
        self.saturation, self.prob = saturation, prob

    def _distort(self, img: np.ndarray) -> np.ndarray:
        if np.random.rand() >= self.prob:
            return img
        out = img.astype(np.float32)
        out += np.random.uniform(-self.brightness, self.brightness)
        out *= np.random.uniform(*self.contrast)
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8),
                           cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * np.random.uniform(
            *self.saturation), 0, 255)
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)

    def transform(self, results: dict) -> dict:
        results['img'] = self._distort(results['img'])
        results['ref_imgs'] = [self._distort(x) for x in results['ref_imgs']]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'prob={self.prob})')
