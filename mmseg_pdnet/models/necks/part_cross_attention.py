# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Dict

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class PartCrossAttention(BaseModule):
    """Asymmetric cross-attention of one part (paper sec. 4.2, Fig. 6(b)).

    Query from the target part feature P_t^k, key and value from the
    reference part feature P_ref^k (1x1 convs without bias), one head,
    softmax over reference positions, then a 1x1 conv + BN + ReLU back to
    the part width. The residual ``P_t^k + attention`` is the part motion
    feature Q_t^k.

    Args:
        channels (int): Part feature width. Defaults to 64.
        attn_channels (int): Query/key/value width d. Defaults to 32.
        scale (bool): Divide logits by sqrt(d). The authors do not
            (default False).
        norm_cfg (dict): Norm config of the output projection.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int = 64,
                 attn_channels: int = 32,
                 scale: bool = False,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.query = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.key = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.value = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.out = ConvModule(
            attn_channels, channels, 1, bias=False, norm_cfg=norm_cfg)
        self.scale = attn_channels**-0.5 if scale else 1.0

    def encode_reference(self, ref_part: Tensor) -> Dict[str, Tensor]:
        """Project reference part features to keys and values.

        Args:
            ref_part (Tensor): P_ref^k, ``(B, C, h, w)``.

        Returns:
            dict: ``key`` and ``value``, each ``(B, d, h * w)``.
        """
        return dict(
            key=self.key(ref_part).flatten(2),
            value=self.value(ref_part).flatten(2))

    def forward(self, target_part: Tensor, key: Tensor,
                value: Tensor) -> Tensor:
        """Attend from target positions to reference positions.

        Args:
            target_part (Tensor): P_t^k, ``(B, C, h, w)``.
            key (Tensor): ``(B, d, N)`` reference keys (N positions, all
                reference frames concatenated).
            value (Tensor): ``(B, d, N)`` reference values.

        Returns:
            Tensor: Q_t^k = P_t^k + attention output, ``(B, C, h, w)``.
        """
        b, _, h, w = target_part.shape
        query = self.query(target_part).flatten(2)  # (B, d, hw)
        logits = torch.bmm(query.transpose(1, 2), key) * self.scale
        attn = logits.softmax(dim=-1)  # (B, hw, N), over reference positions
        out = torch.bmm(value, attn.transpose(1, 2)).reshape(b, -1, h, w)
        return target_part + self.out(out)
