# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Geometric/photometric transforms applied with SHARED random parameters
to the target frame, the reference frame(s) and their masks, as in the
authors' training (docs/fidelity.md).

Masks may be 0/1 integer label maps or soft float32 masks in [0, 1]
(``LoadPairedAnnotations(soft_masks=True)``); every transform keeps their
dtype.

The random draws of each transform live in one method decorated with
:func:`~mmcv.transforms.utils.cache_randomness`, as in MMSeg/MMCV, so that
:func:`~mmcv.transforms.utils.cache_random_params` can replay them. They
are drawn from the global NumPy generator, in a fixed order (documented
per transform): the per-sample seeding of the training
(:mod:`mmseg_pdnet.engine.runner.random_state`) and the exact resume rely
on that order, so it must not change.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
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


def _renamed_kwargs(cls_name: str, old_kwargs: dict,
                    renames: Dict[str, str]) -> dict:
    """Map deprecated argument names to the current ones, with a warning.

    Args:
        cls_name (str): The transform, for the messages.
        old_kwargs (dict): The keyword arguments not in the signature.
        renames (dict[str, str]): Deprecated name -> current name.

    Returns:
        dict: Current name -> value of the deprecated arguments given.

    Raises:
        TypeError: An argument is neither current nor deprecated, as
            Python would raise without ``**kwargs``.
    """
    out = {}
    for old, value in old_kwargs.items():
        if old not in renames:
            raise TypeError(f'{cls_name}.__init__() got an unexpected '
                            f'keyword argument {old!r}')
        warnings.warn(
            f'{cls_name}: argument {old!r} is deprecated, use '
            f'{renames[old]!r} (the MMSeg name) instead', DeprecationWarning,
            stacklevel=3)
        out[renames[old]] = value
    return out


@TRANSFORMS.register_module()
class PairedRandomCrop(BaseTransform):
    """Random crop dropping up to ``max_drop`` of H and of W, the same for
    all frames and masks of the sample.

    The crop size is ``H - randint(0, H * max_drop)`` by
    ``W - randint(0, W * max_drop)`` at a random offset: the authors' crop
    (docs/fidelity.md), relative to each sample's size. MMSeg's
    :class:`~mmseg.datasets.transforms.RandomCrop` crops a fixed
    ``crop_size`` (and can retry with ``cat_max_ratio``): a different
    concept, hence the different argument.

    Random draws, in this order (:meth:`crop_bbox`): the dropped height,
    the dropped width, the top offset, the left offset.

    Required Keys:

    - img
    - ref_imgs
    - gt_seg_map (optional)
    - ref_gt_seg_maps (optional)

    Modified Keys:

    - img
    - ref_imgs
    - img_shape
    - gt_seg_map (optional, dtype kept)
    - ref_gt_seg_maps (optional, dtype kept)

    Args:
        max_drop (float): Largest fraction removed per axis, in [0, 1).
            Defaults to 1/8.
    """

    def __init__(self, max_drop: float = 1 / 8):
        if not 0 <= max_drop < 1:
            raise ValueError(f'max_drop must be in [0, 1), got {max_drop}')
        self.max_drop = max_drop

    @cache_randomness
    def crop_bbox(self, results: dict) -> Tuple[int, int, int, int]:
        """Draw the crop window of the sample.

        Args:
            results (dict): Result dict with the target frame ``img``.

        Returns:
            tuple[int]: ``(crop_y1, crop_y2, crop_x1, crop_x2)``, as
            MMSeg's ``RandomCrop.crop_bbox``.
        """
        h, w = results['img'].shape[:2]
        dh = np.random.randint(0, int(h * self.max_drop) + 1)
        dw = np.random.randint(0, int(w * self.max_drop) + 1)
        y0, x0 = np.random.randint(0, dh + 1), np.random.randint(0, dw + 1)
        return y0, y0 + h - dh, x0, x0 + w - dw

    def transform(self, results: dict) -> dict:
        """Crop every frame and mask with the same window.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: The cropped results; ``img_shape`` is updated.
        """
        y1, y2, x1, x2 = self.crop_bbox(results)
        crop = (slice(y1, y2), slice(x1, x2))
        _apply(results, lambda x: x[crop], lambda m: m[crop])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_drop={self.max_drop})'


@TRANSFORMS.register_module()
class PairedRandomFlip(BaseTransform):
    """Horizontal flip of all frames and masks together.

    Horizontal only, as the authors' training: unlike MMCV's
    :class:`~mmcv.transforms.RandomFlip` there is no ``direction``.

    Random draws (:meth:`_choose_direction`): one ``np.random.rand()``.

    Required Keys:

    - img
    - ref_imgs
    - gt_seg_map (optional)
    - ref_gt_seg_maps (optional)

    Modified Keys:

    - img
    - ref_imgs
    - img_shape
    - gt_seg_map (optional, dtype kept)
    - ref_gt_seg_maps (optional, dtype kept)

    Added Keys:

    - flip
    - flip_direction

    Args:
        prob (float): Flip probability, in [0, 1]. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _choose_direction(self) -> Optional[str]:
        """``'horizontal'`` with probability ``prob``, else None (no
        flip), as MMCV's ``RandomFlip._choose_direction``."""
        return 'horizontal' if np.random.rand() < self.prob else None

    def transform(self, results: dict) -> dict:
        """Flip every frame and mask, or none of them.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: The (flipped) results with ``flip`` and
            ``flip_direction``.
        """
        direction = self._choose_direction()
        if direction is not None:
            _apply(results, lambda x: np.ascontiguousarray(x[:, ::-1]),
                   lambda m: np.ascontiguousarray(m[:, ::-1]))
        results['flip'] = direction is not None
        results['flip_direction'] = direction
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class PairedResize(BaseTransform):
    """Resize all frames and masks to ``scale`` (aspect ratio not kept).

    Frames are resized bilinearly (``cv2.INTER_LINEAR``). Soft float masks
    are resized bilinearly too, as the authors' training, so their
    boundaries become fractional; integer 0/1 label masks use nearest
    neighbour and stay 0/1.

    With ``to_float32=True`` the frames are interpolated in float32 and
    stay float32 (values 0..255, not rounded back to 8 bits): the PDNet
    authors normalise the frames in float before resizing them, and
    bilinear interpolation commutes with the per-channel mean/std, so the
    data preprocessor then gives their network input to float precision
    (docs/fidelity.md). The default 8-bit resize rounds each interpolated
    value to the nearest integer.

    .. note::
        ``scale`` is ``(w, h)``, as MMSeg's
        :class:`~mmseg.datasets.transforms.Resize` (``keep_ratio=False``)
        and :func:`cv2.resize`. Up to mmseg_pdnet 0.1.0 it was
        ``(h, w)``: a non-square tuple written for that order now gives
        the transposed size, and nothing can tell the two orders apart,
        so swap such tuples in your configs. An int (a square size, what
        every bundled config uses) means the same in both.

    Required Keys:

    - img
    - ref_imgs
    - ori_shape
    - gt_seg_map (optional)
    - ref_gt_seg_maps (optional)

    Modified Keys:

    - img
    - ref_imgs
    - img_shape
    - gt_seg_map (optional, dtype kept)
    - ref_gt_seg_maps (optional, dtype kept)

    Added Keys:

    - scale_factor: ``(w_scale, h_scale)`` relative to ``ori_shape``

    Args:
        scale (int | tuple[int, int]): Output size ``(w, h)``; an int is a
            square size. Defaults to 480.
        to_float32 (bool): Resize the frames as float32 and return them
            as float32, as MMCV's ``LoadImageFromFile(to_float32=True)``
            names it. Defaults to False (uint8 in, uint8 out).
    """

    def __init__(self, scale: Union[int, Tuple[int, int]] = 480,
                 to_float32: bool = False):
        if isinstance(scale, int):
            scale = (scale, scale)
        # a list is accepted too: configs dumped to JSON/YAML turn tuples
        # into lists
        scale = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, )
        if len(scale) != 2 or not all(
                isinstance(s, (int, np.integer)) and s > 0 for s in scale):
            raise ValueError('scale must be a positive int or a (w, h) pair '
                             f'of positive ints, got {scale}')
        self.scale = scale
        self.to_float32 = to_float32

    def _resize_frame(self, frame: np.ndarray,
                      size: Tuple[int, int]) -> np.ndarray:
        if self.to_float32:
            frame = frame.astype(np.float32)
        return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)

    @staticmethod
    def _resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        # interpolating integer labels would invent classes; soft masks are
        # interpolated like images
        interp = (cv2.INTER_LINEAR
                  if mask.dtype.kind == 'f' else cv2.INTER_NEAREST)
        return cv2.resize(mask, size, interpolation=interp)

    def transform(self, results: dict) -> dict:
        """Resize every frame and mask to ``scale``.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: The resized results with ``scale_factor``.
        """
        w, h = self.scale
        _apply(results, lambda x: self._resize_frame(x, (w, h)),
               lambda m: self._resize_mask(m, (w, h)))
        results['scale_factor'] = (w / results['ori_shape'][1],
                                   h / results['ori_shape'][0])
        return results

    def __repr__(self) -> str:
        extra = ', to_float32=True' if self.to_float32 else ''
        return f'{self.__class__.__name__}(scale={self.scale}{extra})'


@TRANSFORMS.register_module()
class PairedPhotoMetricDistortion(BaseTransform):
    """Per-frame brightness/contrast/saturation jitter (optional).

    Unlike the geometric transforms, each frame draws its own parameters
    (lighting changes between frames); masks are untouched. With
    probability ``prob`` a frame gets, in this order: a brightness shift
    in ``[-brightness_delta, brightness_delta]``, a contrast factor in
    ``contrast_range``, then (in HSV) a saturation factor in
    ``saturation_range``. The arguments are named as MMSeg's
    :class:`~mmseg.datasets.transforms.PhotoMetricDistortion`, but that
    one flips a coin per operation, randomises the contrast position and
    jitters the hue; this one has one coin per frame and no hue jitter.

    Random draws (:meth:`_random_params`), frame by frame (target first,
    then the references in order): one ``np.random.rand()`` coin and,
    when it is below ``prob``, the brightness, contrast and saturation
    values.

    Required Keys:

    - img
    - ref_imgs

    Modified Keys:

    - img
    - ref_imgs

    Args:
        brightness_delta (float): Largest absolute brightness shift.
            Defaults to 32.
        contrast_range (Sequence[float]): Contrast factor range
            ``(low, high)``. Defaults to (0.5, 1.5).
        saturation_range (Sequence[float]): Saturation factor range
            ``(low, high)``. Defaults to (0.5, 1.5).
        prob (float): Probability of distorting each frame. Defaults to
            0.5.
        **deprecated: The former names ``brightness``, ``contrast`` and
            ``saturation`` are still accepted, with a
            ``DeprecationWarning``.
    """

    #: former argument name -> MMSeg's name
    RENAMED = dict(brightness='brightness_delta', contrast='contrast_range',
                   saturation='saturation_range')

    def __init__(self,
                 brightness_delta: float = 32,
                 contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5),
                 prob: float = 0.5,
                 **deprecated):
        renamed = _renamed_kwargs(self.__class__.__name__, deprecated,
                                  self.RENAMED)
        self.brightness_delta = renamed.get('brightness_delta',
                                            brightness_delta)
        self.contrast_range = tuple(
            renamed.get('contrast_range', contrast_range))
        self.saturation_range = tuple(
            renamed.get('saturation_range', saturation_range))
        self.prob = prob

    @cache_randomness
    def _random_params(
            self, num_frames: int) -> List[Optional[Tuple[float, ...]]]:
        """Draw the distortion of every frame of the sample.

        All draws are made here, frame after frame, in the order the
        frames are distorted; the image operations in between draw
        nothing, so drawing them up front gives the same values.

        Args:
            num_frames (int): Target frame + reference frames.

        Returns:
            list[tuple[float] | None]: Per frame ``(brightness, contrast,
            saturation)``, or None when the frame is left as is.
        """
        params = []
        for _ in range(num_frames):
            if np.random.rand() >= self.prob:
                params.append(None)
                continue
            params.append(
                (np.random.uniform(-self.brightness_delta,
                                   self.brightness_delta),
                 np.random.uniform(*self.contrast_range),
                 np.random.uniform(*self.saturation_range)))
        return params

    @staticmethod
    def _distort(img: np.ndarray,
                 params: Optional[Tuple[float, ...]]) -> np.ndarray:
        if params is None:
            return img
        beta, alpha, saturation = params
        out = img.astype(np.float32)
        out += beta
        out *= alpha
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8),
                           cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)

    def transform(self, results: dict) -> dict:
        """Distort each frame with its own parameters.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: The results with distorted ``img`` and ``ref_imgs``.
        """
        frames = [results['img']] + list(results['ref_imgs'])
        params = self._random_params(len(frames))
        out = [self._distort(f, p) for f, p in zip(frames, params)]
        results['img'], results['ref_imgs'] = out[0], out[1:]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'brightness_delta={self.brightness_delta}, '
                f'contrast_range={self.contrast_range}, '
                f'saturation_range={self.saturation_range}, '
                f'prob={self.prob})')
