# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Dict, Optional

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn


def grouped_norm_cfg(norm_cfg: Optional[dict], groups: int) -> Optional[dict]:
    """Norm config of a layer that runs ``groups`` parts side by side.

    A norm over ``groups * C`` channels equals ``groups`` separate norms
    over C channels when its statistics never mix channels of two parts:
    BN / SyncBN / IN (per channel) as they are; GN with ``groups`` times
    as many groups.

    Args:
        norm_cfg (dict, optional): Norm config of ONE part.
        groups (int): Number of parts.

    Returns:
        dict, optional: Norm config of the grouped layer.
    """
    if norm_cfg is None or norm_cfg.get('type') != 'GN':
        return norm_cfg
    return dict(norm_cfg, num_groups=norm_cfg['num_groups'] * groups)


@MODELS.register_module()
class PartCrossAttention(BaseModule):
    """Asymmetric cross-attention of the parts (paper sec. 4.2, Fig. 6(b)).

    Per part k: query from the target part feature P_t^k, key and value
    from the reference part feature P_ref^k (1x1 convs without bias), one
    head, softmax over reference positions, then a 1x1 conv + BN + ReLU
    back to the part width. The residual ``P_t^k + attention`` is the part
    motion feature Q_t^k.

    The p parts have their own weights but run together: the 1x1 convs are
    grouped convs (``groups=p``, part k's outputs read part k's inputs
    only), the two matrix products are one ``bmm`` over ``B * p`` and the
    BN of the output projection covers the ``p * C`` channels (BN is per
    channel, so this equals p separate BNs, also with batch statistics).
    The weights of part k are rows ``k d:(k + 1) d`` of ``query.weight``,
    ``key.weight`` and ``value.weight``, and rows ``k C:(k + 1) C`` of
    ``out.conv.weight`` and of the BN parameters.

    Args:
        channels (int): Part feature width C. Defaults to 64.
        attn_channels (int): Query/key/value width d. Defaults to 32.
        num_parts (int): Number of parts p run together. Defaults to 1.
        scale (bool): Divide logits by sqrt(d). The authors do not
            (default False).
        norm_cfg (dict): Norm config of the output projection (of one
            part; see :func:`grouped_norm_cfg`).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int = 64,
                 attn_channels: int = 32,
                 num_parts: int = 1,
                 scale: bool = False,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.attn_channels = attn_channels
        self.num_parts = p = num_parts
        # (p * d, C, 1, 1) weights: Kaiming fan_in = C, as one part's conv
        self.query = nn.Conv2d(p * channels, p * attn_channels, 1, groups=p,
                               bias=False)
        self.key = nn.Conv2d(p * channels, p * attn_channels, 1, groups=p,
                             bias=False)
        self.value = nn.Conv2d(p * channels, p * attn_channels, 1, groups=p,
                               bias=False)
        self.out = ConvModule(
            p * attn_channels, p * channels, 1, groups=p, bias=False,
            norm_cfg=grouped_norm_cfg(norm_cfg, p))
        # None rather than 1.0: no multiplication at all without scaling
        self.scale = attn_channels**-0.5 if scale else None

    def encode_reference(self, ref_parts: Tensor) -> Dict[str, Tensor]:
        """Project reference part features to keys and values.

        Args:
            ref_parts (Tensor): P_ref, ``(B, p, C, h, w)``.

        Returns:
            dict: ``key`` and ``value``, each ``(B, p, d, h * w)``.
        """
        b, p, _, h, w = ref_parts.shape
        x = ref_parts.flatten(1, 2)
        return dict(
            key=self.key(x).reshape(b, p, self.attn_channels, h * w),
            value=self.value(x).reshape(b, p, self.attn_channels, h * w))

    def forward(self, target_parts: Tensor, key: Tensor,
                value: Tensor) -> Tensor:
        """Attend from target positions to reference positions, per part.

        Args:
            target_parts (Tensor): P_t, ``(B, p, C, h, w)``.
            key (Tensor): ``(B, p, d, N)`` reference keys (N positions, all
                reference frames concatenated).
            value (Tensor): ``(B, p, d, N)`` reference values.

        Returns:
            Tensor: Q_t^k = P_t^k + attention output, ``(B, p, C, h, w)``.
        """
        b, p, c, h, w = target_parts.shape
        d = self.attn_channels
        x = target_parts.flatten(1, 2)  # (B, p C, h, w), parts side by side
        query = self.query(x).reshape(b * p, d, h * w)
        logits = torch.bmm(query.transpose(1, 2), key.flatten(0, 1))
        if self.scale is not None:
            logits = logits * self.scale
        attn = logits.softmax(dim=-1)  # (B p, hw, N), over reference pos.
        out = torch.bmm(value.flatten(0, 1), attn.transpose(1, 2))
        out = self.out(out.reshape(b, p * d, h, w))
        return (x + out).reshape(b, p, c, h, w)
