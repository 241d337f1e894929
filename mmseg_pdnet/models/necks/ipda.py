# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import init_pdnet_weights
from .part_cross_attention import PartCrossAttention


@MODELS.register_module()
class IPDA(BaseModule):
    """Inter-frame Part-Discriminated Attention (paper sec. 4.2, eq. 1-2).

    Three stages, all weight-shared between the target and reference frames:

    1. Unsupervised part decoupling: A is downsampled x0.25 (stride 16), a
       shared adapter (3x3 conv 128->128, 1x1 conv 128->64) compresses it, a
       saliency predictor gives S = sigmoid(logit), p part branches
       (1x1 -> 3x3 -> 1x1) give the part features P^k, and one shared part
       head gives part logits whose softmax over parts is D^k. The part
       masks are R^k = S * D^k (eq. 1).
    2. Correlation extraction: per part k, an asymmetric cross-attention
       with query P_t^k and key/value P_ref^k gives Q_t^k = P_t^k + attn.
    3. Correlation assembly: M_t = sum_k Q_t^k * R_t^k (eq. 2).

    With several reference frames, the keys and values of all references
    are concatenated along the position axis, so each target position
    attends jointly over every reference position (one softmax); the motion
    features of the references are thereby combined as an attention-weighted
    mixture rather than an average.

    Args:
        in_channels (int): Width of A. Defaults to 128.
        channels (int): Width of the adapted and part features. Defaults 64.
        attn_channels (int): Query/key width d. Defaults to 32.
        num_parts (int): Number of parts p. Defaults to 5.
        num_refs (int): Number of reference frames. Defaults to 1.
        scale_attention (bool): Use 1/sqrt(d) scaling. Defaults to False
            (as the authors).
        downsample (int): Downsampling factor from A to the IPDA
            resolution. Defaults to 4 (stride 4 -> 16).
        norm_cfg (dict): Norm config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 128,
                 channels: int = 64,
                 attn_channels: int = 32,
                 num_parts: int = 5,
                 num_refs: int = 1,
                 scale_attention: bool = False,
                 downsample: int = 4,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_parts < 1 or num_refs < 1:
            raise ValueError('IPDA needs num_parts >= 1 and num_refs >= 1, '
                             f'got num_parts={num_parts}, num_refs={num_refs}')
        self.num_parts = num_parts
        self.num_refs = num_refs
        self.downsample = downsample
        self.channels = channels
        conv = dict(bias=False, norm_cfg=norm_cfg)
        self.adapter = nn.Sequential(
            ConvModule(in_channels, in_channels, 3, padding=1, **conv),
            ConvModule(in_channels, channels, 1, **conv))
        self.saliency = nn.Conv2d(channels, 1, 3, padding=1)
        self.part_branches = nn.ModuleList(
            nn.Sequential(
                ConvModule(channels, channels, 1, **conv),
                ConvModule(channels, channels, 3, padding=1, **conv),
                ConvModule(channels, channels, 1, **conv))
            for _ in range(num_parts))
        self.part_head = nn.Conv2d(channels, 1, 3, padding=1)
        self.attentions = nn.ModuleList(
            PartCrossAttention(channels, attn_channels, scale_attention,
                               norm_cfg) for _ in range(num_parts))

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            init_pdnet_weights(self)

    def decouple(self, appearance: Tensor) -> Dict[str, object]:
        """Unsupervised part decoupling of one frame (stage 1).

        Args:
            appearance (Tensor): A, ``(B, in_channels, H/4, W/4)``.

        Returns:
            dict: ``parts`` list of p tensors P^k ``(B, channels, h, w)``;
            ``sal_logit`` ``(B, 1, h, w)``; ``part_logits`` ``(B, p, h, w)``
            (h, w = H/16, W/16).
        """
        h = appearance.shape[-2] // self.downsample
        w = appearance.shape[-1] // self.downsample
        x = F.interpolate(appearance, size=(h, w), mode='bilinear',
                          align_corners=True)
        x = self.adapter(x)
        parts = [branch(x) for branch in self.part_branches]
        part_logits = torch.cat([self.part_head(p) for p in parts], dim=1)
        return dict(
            parts=parts, sal_logit=self.saliency(x), part_logits=part_logits)

    def encode_reference(self, ref_appearances: Sequence[Tensor]
                         ) -> Dict[str, Tensor]:
        """Everything the target needs from the reference frame(s).

        This is the cache of the streaming inferencer: computed once per
        reference, reused for every target frame.

        Args:
            ref_appearances (Sequence[Tensor]): A_ref of each reference,
                ``(B, in_channels, H/4, W/4)``.

        Returns:
            dict: ``key`` and ``value``, ``(B, p, d, N)`` with N the
            positions of all references concatenated.
        """
        return self._reference_cache(
            [self.decouple(a) for a in ref_appearances])

    def _reference_cache(self, refs: Sequence[dict]) -> Dict[str, Tensor]:
        """Keys/values ``(B, p, d, N)`` of decoupled reference frames."""
        keys, values = [], []
        for ref in refs:
            kv = [att.encode_reference(p)
                  for att, p in zip(self.attentions, ref['parts'])]
            keys.append(torch.stack([x['key'] for x in kv], dim=1))
            values.append(torch.stack([x['value'] for x in kv], dim=1))
        return dict(key=torch.cat(keys, dim=-1), value=torch.cat(values, -1))

    def assemble(self, target: Dict[str, object],
                 ref_cache: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Correlation extraction and assembly (stages 2-3, eq. 1-2).

        Args:
            target (dict): Output of :meth:`decouple` for the target frame.
            ref_cache (dict): Output of :meth:`encode_reference`.

        Returns:
            dict: ``motion`` M_t ``(B, channels, h, w)`` and ``part_masks``
            R_t^k = S_t * D_t^k ``(B, p, h, w)``.
        """
        part_masks = target['sal_logit'].sigmoid() * \
            target['part_logits'].softmax(dim=1)  # eq. (1)
        motion = 0
        for k, (att, part) in enumerate(zip(self.attentions,
                                            target['parts'])):
            q_k = att(part, ref_cache['key'][:, k], ref_cache['value'][:, k])
            motion = motion + q_k * part_masks[:, k:k + 1]  # eq. (2)
        return dict(motion=motion, part_masks=part_masks)

    def forward(self, target_appearance: Tensor,
                ref_appearances: Sequence[Tensor]) -> Dict[str, object]:
        """Paired forward: target frame and its reference frame(s).

        Args:
            target_appearance (Tensor): A_t, ``(B, C, H/4, W/4)``.
            ref_appearances (Sequence[Tensor]): A_ref of each reference.

        Returns:
            dict: ``motion`` M_t, ``part_masks`` R_t, the target's
            ``sal_logit`` / ``part_logits``, and ``ref_sal_logits`` /
            ``ref_part_logits`` (lists over references) for training.
        """
        if len(ref_appearances) != self.num_refs:
            raise ValueError(f'IPDA was built for {self.num_refs} reference '
                             f'frame(s), got {len(ref_appearances)}')
        target = self.decouple(target_appearance)
        refs: List[dict] = [self.decouple(a) for a in ref_appearances]
        cache = self._reference_cache(refs)
        out = self.assemble(target, cache)
        out.update(
            sal_logit=target['sal_logit'],
            part_logits=target['part_logits'],
            ref_sal_logits=[r['sal_logit'] for r in refs],
            ref_part_logits=[r['part_logits'] for r in refs])
        return out
