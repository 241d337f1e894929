# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor, nn

from ..utils import init_pdnet_weights, resize_bilinear
from .spatiotemporal_fusion import SpatiotemporalFusion


@MODELS.register_module()
class PDFusionHead(BaseDecodeHead):
    """PDNet decode head: spatiotemporal fusion + one-channel mask predictor.

    The final prediction fuses the target's appearance A_t with its motion
    M_t (:class:`SpatiotemporalFusion`, paper sec. 4.3) and predicts one
    foreground logit per pixel with a 3x3 conv (sigmoid, threshold 0.5).
    The head also owns the deep-supervision heads (one 3x3 conv per
    encoder level x2..x5) used by the training losses (paper sec. 4.4).

    With ``use_motion=False`` (the "without IPDA and fusion" ablation of
    paper table 3) the fusion is replaced by the same two 3x3 refinement
    convs on A_t alone.

    Args:
        in_channels (int): Width of A_t and of the encoder levels.
        channels (int): Width of the fused features. Must equal
            ``in_channels`` (the fusion adds A_t). Defaults to 128.
        motion_channels (int): Width of M_t. Defaults to 64.
        num_side_outputs (int): Deep-supervision heads (x2..x5).
            Defaults to 4.
        use_motion (bool): Fuse M_t. Defaults to True.
        threshold (float): Probability threshold of the mask. Defaults 0.5.
        loss_decode (dict): Config of the segmentation loss Lseg
            (:class:`PDSegLoss`).
        norm_cfg (dict): Norm config.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (Kaiming fan_in, as the authors).
    """

    def __init__(self,
                 in_channels: int = 128,
                 channels: int = 128,
                 motion_channels: int = 64,
                 num_side_outputs: int = 4,
                 use_motion: bool = True,
                 threshold: float = 0.5,
                 loss_decode=dict(type='PDSegLoss', l1_weight=0.8),
                 norm_cfg=dict(type='BN'),
                 init_cfg=None,
                 **kwargs):
        if channels != in_channels:
            raise ValueError('PDFusionHead adds A_t to the fused features, '
                             f'so channels ({channels}) must equal '
                             f'in_channels ({in_channels})')
        with warnings.catch_warnings():
            # BaseDecodeHead builds loss_decode with mmseg's own deprecated
            # build_loss, which warns on every model build; that warning is
            # about mmseg's code, not ours, so only it is silenced here
            warnings.filterwarnings(
                'ignore', message='``build_loss`` would be deprecated',
                category=UserWarning)
            super().__init__(
                in_channels,
                channels,
                num_classes=1,
                out_channels=1,
                threshold=threshold,
                dropout_ratio=0.,
                norm_cfg=norm_cfg,
                loss_decode=loss_decode,
                align_corners=True,
                init_cfg=init_cfg,
                **kwargs)
        self.use_motion = use_motion
        if use_motion:
            self.fusion = SpatiotemporalFusion(in_channels, motion_channels,
                                               norm_cfg)
        else:
            self.refine = nn.Sequential(*[
                ConvModule(in_channels, channels, 3, padding=1, bias=False,
                           norm_cfg=norm_cfg) for _ in range(2)
            ])
        # the authors' mask predictor is a 3x3 conv (BaseDecodeHead's is 1x1)
        self.conv_seg = nn.Conv2d(channels, 1, 3, padding=1)
        self.side_heads = nn.ModuleList(
            nn.Conv2d(in_channels, 1, 3, padding=1)
            for _ in range(num_side_outputs))

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            init_pdnet_weights(self)

    def forward(self, inputs: Tuple[Tensor, Optional[Tensor]]) -> Tensor:
        """Predict the target mask logit.

        Args:
            inputs (tuple): ``(A_t, M_t)``: appearance ``(B, C, H/4, W/4)``
                and motion ``(B, Cm, H/16, W/16)`` (None without IPDA).

        Returns:
            Tensor: mask logit ``(B, 1, H/4, W/4)``.
        """
        appearance, motion = inputs
        if self.use_motion:
            if motion is None:
                raise ValueError('PDFusionHead(use_motion=True) needs M_t')
            x = self.fusion(appearance, motion)
        else:
            x = self.refine(appearance)
        return self.cls_seg(x)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Lseg of the mask logits against the samples' masks.

        Replaces :class:`BaseDecodeHead`'s version, which calls the loss
        with ``weight=`` and ``ignore_index=``: Lseg (:class:`PDSegLoss`)
        is a one-channel BCE + L1 loss with neither. ``loss`` and
        ``predict`` inherited from MMSeg thereby work on this head alone;
        :class:`PDNet` computes its losses itself (``PDNet.loss``).

        Args:
            seg_logits (Tensor): ``(B, 1, h, w)`` logits of :meth:`forward`.
            batch_data_samples (list[SegDataSample]): with ``gt_sem_seg``
                ``(1, H, W)`` masks in [0, 1].

        Returns:
            dict[str, Tensor]: ``loss_seg``, and ``acc_seg`` (pixel accuracy
            at :attr:`threshold`, in percent, without gradient).
        """
        gt = torch.stack([s.gt_sem_seg.data for s in batch_data_samples])
        gt = gt.to(seg_logits.dtype)
        if gt.ndim != 4 or gt.shape[1] != 1:
            raise ValueError('PDFusionHead expects gt_sem_seg masks of shape '
                             f'(1, H, W), got {tuple(gt.shape[1:])}')
        logits = resize_bilinear(seg_logits, gt.shape[-2:])
        with torch.no_grad():
            pred = logits.sigmoid() > self.threshold
            acc = (pred == (gt > 0.5)).float().mean() * 100
        return dict(loss_seg=self.loss_decode(logits, gt), acc_seg=acc)

    def forward_side(self, levels: Sequence[Tensor]) -> List[Tensor]:
        """Deep-supervision logits of the encoder levels x2..x5.

        As the authors, every level but the finest is first upsampled
        (bilinear, ``align_corners=True``) to the size of the next finer
        level, so x2, x3, x4, x5 are predicted at strides 4/4/8/16, not
        4/8/16/32 (the losses resize the logits to the mask size).

        Args:
            levels (Sequence[Tensor]): ``(B, C, H_i, W_i)``, finest first.

        Returns:
            list[Tensor]: one ``(B, 1, H_j, W_j)`` logit per level, where
            ``j = max(i - 1, 0)``: the size of the next finer level.
        """
        if len(levels) != len(self.side_heads):
            raise ValueError(f'expected {len(self.side_heads)} encoder '
                             f'levels, got {len(levels)}')
        finer = [levels[0]] + list(levels[:-1])
        return [
            head(resize_bilinear(x, f.shape[-2:]))
            for head, x, f in zip(self.side_heads, levels, finer)
        ]

    def forward_side_frames(self, frame_levels: Sequence[Sequence[Tensor]]
                            ) -> List[List[Tensor]]:
        """:meth:`forward_side` of F frames, one pass per side head.

        The frames' levels are concatenated along the batch axis (each
        head runs once on all frames), so the logits equal F separate
        :meth:`forward_side` calls.

        Args:
            frame_levels (Sequence[Sequence[Tensor]]): per frame, its
                encoder levels ``(B, C, H_i, W_i)``, finest first.

        Returns:
            list[list[Tensor]]: per frame, :meth:`forward_side`'s logits.
        """
        if len(frame_levels) == 1:
            return [self.forward_side(frame_levels[0])]
        batch = frame_levels[0][0].shape[0]
        levels = [torch.cat(level) for level in zip(*frame_levels)]
        sides = [side.split(batch) for side in self.forward_side(levels)]
        return [list(frame) for frame in zip(*sides)]
