# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import resize_bilinear


@MODELS.register_module()
class SpatiotemporalFusion(BaseModule):
    """Spatiotemporal fusion of appearance and motion (paper sec. 4.3).

    The motion feature M_t is upsampled to A_t's size and expanded by a
    1x1 conv + BN + ReLU (t); a second 1x1 conv without BN or bias gives t1.
    The fused feature is ``A_t + t + A_t * t1`` (regions salient in both
    appearance and motion respond most), refined by two 3x3 conv + BN + ReLU.

    Args:
        in_channels (int): Width of A_t. Defaults to 128.
        motion_channels (int): Width of M_t. Defaults to 64.
        norm_cfg (dict): Norm config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 128,
                 motion_channels: int = 64,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.expand = ConvModule(
            motion_channels, in_channels, 1, bias=False, norm_cfg=norm_cfg)
        self.gate = nn.Conv2d(in_channels, in_channels, 1, bias=False)
        self.refine = nn.Sequential(
            ConvModule(in_channels, in_channels, 3, padding=1, bias=False,
                       norm_cfg=norm_cfg),
            ConvModule(in_channels, in_channels, 3, padding=1, bias=False,
                       norm_cfg=norm_cfg))

    def forward(self, appearance: Tensor, motion: Tensor) -> Tensor:
        """Fuse A_t ``(B, C, H/4, W/4)`` with M_t ``(B, Cm, H/16, W/16)``.

        Returns:
            Tensor: fused features ``(B, C, H/4, W/4)``.
        """
        motion = resize_bilinear(motion, appearance.shape[-2:])
        t = self.expand(motion)
        return self.refine(appearance + t + appearance * self.gate(t))
