# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch
from torch import Tensor


@MODELS.register_module()
class PairedSegDataPreProcessor(SegDataPreProcessor):
    """Normalise a frame pair (target + R reference frames) for PDNet.

    Each sample's ``inputs`` is a ``(3 * (1 + R), H, W)`` uint8 tensor: the
    target frame's three channels first, then every reference frame (BGR as
    loaded by OpenCV). Every 3-channel group gets the SAME channel conversion
    and mean/std, so the Siamese encoder sees identically normalised frames.
    Padding (``size_divisor``) is applied to the inputs, ``gt_sem_seg`` and
    the reference masks ``gt_ref_seg`` alike.

    Args:
        mean (Sequence[float]): Per-channel mean of ONE frame (3 values).
        std (Sequence[float]): Per-channel std of ONE frame (3 values).
        num_refs (int): Number of reference frames R. Defaults to 1.
        bgr_to_rgb (bool): Convert every frame from BGR to RGB.
            Defaults to True.
        size_divisor (int, optional): Pad H and W to a multiple of it.
        pad_val (float): Padding value of the images. Defaults to 0.
        seg_pad_val (int): Padding value of the masks. Defaults to 0
            (background), because PDNet's masks are 0/1 and its losses have
            no ignore index.
        test_cfg (dict, optional): ``size`` / ``size_divisor`` padding at
            test time, as in :class:`SegDataPreProcessor`.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 num_refs: int = 1,
                 bgr_to_rgb: bool = True,
                 size: Optional[tuple] = None,
                 size_divisor: Optional[int] = None,
                 pad_val: float = 0,
                 seg_pad_val: int = 0,
                 test_cfg: Optional[dict] = None):
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('PairedSegDataPreProcessor expects the mean/std '
                             f'of one RGB frame (3 values), got mean={mean}, '
                             f'std={std}')
        if num_refs < 1:
            raise ValueError(f'num_refs must be >= 1, got {num_refs}')
        super().__init__(
            mean=mean,
            std=std,
            size=size,
            size_divisor=size_divisor,
            pad_val=pad_val,
            seg_pad_val=seg_pad_val,
            bgr_to_rgb=bgr_to_rgb,
            test_cfg=test_cfg)
        self.num_refs = num_refs
        self.num_frames = 1 + num_refs
        # set by ChannelsLastHook: hand NHWC-strided inputs to the model
        self.channels_last = False

    def normalize_frames(self, frames: Tensor) -> Tensor:
        """Normalise raw frames for the encoder.

        Args:
            frames (Tensor): ``(B, 3 * n, H, W)`` (or ``(3 * n, H, W)``)
                uint8/float frames in the loader's channel order (BGR), any
                number ``n`` of stacked frames.

        Returns:
            Tensor: float frames of the same shape, each 3-channel group
            converted to RGB (if configured) and normalised with mean/std.
        """
        frames = frames.to(self.device).float()
        channels = frames.shape[-3]
        if channels % 3:
            raise ValueError('expected a multiple of 3 channels (stacked '
                             f'frames), got {channels}')
        shape = frames.shape
        grouped = frames.reshape(*shape[:-3], channels // 3, 3, *shape[-2:])
        if self.channel_conversion:
            grouped = grouped.flip(-3)
        if self._enable_normalize:
            grouped = (grouped - self.mean) / self.std
        return grouped.reshape(shape)

    @torch.compiler.disable
    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise, pad and stack a batch of frame pairs.

        Args:
            data (dict): ``inputs``: list of ``(3 * (1 + R), H, W)`` tensors;
                ``data_samples``: list of :obj:`SegDataSample`.
            training (bool): Whether the batch is a training batch.

        Returns:
            dict: ``inputs``: ``(B, 3 * (1 + R), H', W')`` float tensor and
            the (padded) ``data_samples``.
        """
        data = self.cast_data(data)
        data_samples = data.get('data_samples', None)
        expected = 3 * self.num_frames
        inputs = []
        for i, frames in enumerate(data['inputs']):
            if frames.shape[0] != expected:
                path = ''
                if data_samples is not None:
                    path = data_samples[i].metainfo.get('img_path', '')
                raise ValueError(
                    f'{path or "sample " + str(i)}: expected {expected} input '
                    f'channels (target + {self.num_refs} reference frame(s)), '
                    f'got {frames.shape[0]}')
            inputs.append(self.normalize_frames(frames))

        if training:
            if data_samples is None:
                raise ValueError('training batches need data_samples')
            inputs, data_samples = stack_batch(
                inputs=inputs,
                data_samples=data_samples,
                size=self.size,
                size_divisor=self.size_divisor,
                pad_val=self.pad_val,
                seg_pad_val=self.seg_pad_val)
            self._pad_ref_masks(data_samples, inputs.shape[-2:])
        else:
            sizes = {tuple(x.shape[1:]) for x in inputs}
            if len(sizes) != 1:
                raise ValueError('all frames of a test batch must have the '
                                 f'same size, got {sorted(sizes)}')
            if self.test_cfg:
                inputs, pad_infos = stack_batch(
                    inputs=inputs,
                    size=self.test_cfg.get('size', None),
                    size_divisor=self.test_cfg.get('size_divisor', None),
                    pad_val=self.pad_val,
                    seg_pad_val=self.seg_pad_val)
                for sample, pad_info in zip(data_samples or [], pad_infos):
                    sample.set_metainfo({**pad_info})
            else:
                inputs = torch.stack(inputs, dim=0)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return dict(inputs=inputs, data_samples=data_samples)

    def _pad_ref_masks(self, data_samples, size) -> None:
        """Pad ``gt_ref_seg`` (R, h, w) bottom/right to the batch size."""
        for sample in data_samples:
            if 'gt_ref_seg' not in sample:
                continue
            ref = sample.gt_ref_seg.data
            pad_h, pad_w = size[0] - ref.shape[-2], size[1] - ref.shape[-1]
            if pad_h or pad_w:
                sample.gt_ref_seg = PixelData(data=F.pad(
                    ref, (0, pad_w, 0, pad_h), value=self.seg_pad_val))
