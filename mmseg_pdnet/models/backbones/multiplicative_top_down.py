# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import List, Sequence, Tuple

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import init_pdnet_weights, resize_bilinear


@MODELS.register_module()
class MultiplicativeTopDown(BaseModule):
    """Top-down decoder of the PDNet Siamese encoder (paper sec. 4.1).

    An FPN-like path whose fusion is a MULTIPLICATION: every level C_k goes
    through a lateral 1x1 conv + BN + ReLU; the upsampled coarser output is
    multiplied with it and refined by two 3x3 conv + BN + ReLU. The coarsest
    level (x5) is the lateral alone. Upsampling is bilinear with
    ``align_corners=True`` (docs/fidelity.md).

    Args:
        in_channels (Sequence[int]): Channels of C2..C5,
            e.g. ``[256, 512, 1024, 2048]`` for ResNet-50.
        channels (int): Width of every decoder level. Defaults to 128.
        conv_cfg (dict, optional): Conv config. Defaults to None.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (Kaiming fan_in, as the authors).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 channels: int = 128,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.channels = channels
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.laterals = nn.ModuleList(
            ConvModule(c, channels, 1, bias=False, **common)
            for c in self.in_channels)
        # one smoothing block per level that receives a coarser level
        self.smooths = nn.ModuleList(
            nn.Sequential(
                ConvModule(channels, channels, 3, padding=1, bias=False,
                           **common),
                ConvModule(channels, channels, 3, padding=1, bias=False,
                           **common))
            for _ in self.in_channels[:-1])

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            init_pdnet_weights(self)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse backbone features top-down.

        Args:
            feats (Sequence[Tensor]): C2..C5, ``(B, in_channels[i], H_i,
                W_i)`` at strides 4/8/16/32.

        Returns:
            tuple[Tensor]: x2, x3, x4, x5, each ``(B, channels, H_i, W_i)``;
            x2 is the appearance feature A (stride 4).
        """
        if len(feats) != len(self.laterals):
            raise ValueError(f'expected {len(self.laterals)} feature levels, '
                             f'got {len(feats)}')
        outs: List[Tensor] = [self.laterals[-1](feats[-1])]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.laterals[i](feats[i])
            coarser = resize_bilinear(outs[0], lateral.shape[-2:])
            outs.insert(0, self.smooths[i](lateral * coarser))
        return tuple(outs)
