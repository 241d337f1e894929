# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import re
from collections import defaultdict
from typing import Dict, List, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import init_pdnet_weights, resize_bilinear
from .part_cross_attention import PartCrossAttention, grouped_norm_cfg


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

    The p parts have their own weights but run together, as a few large
    kernels instead of p small ones: the first 1x1 conv of every part
    branch reads the same adapted feature, so the p of them are one conv
    to ``p * channels`` channels; the 3x3 and the last 1x1 are grouped
    convs (``groups=p``: part k reads only its own channels); the shared
    part head runs once on the ``B * p`` part features; the attention is
    batched over parts (:class:`PartCrossAttention`). One BN over the
    ``p * channels`` channels equals p separate BNs (BN is per channel,
    also with batch statistics). Part k is channel block
    ``k * channels:(k + 1) * channels``. State dicts of the earlier
    per-part modules (``part_branches.{k}.{i}.*``, ``attentions.{k}.*``,
    version < 2) are converted when loaded
    (:meth:`upgrade_state_dict`).

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
        norm_cfg (dict): Norm config (of one part: the part layers get
            :func:`grouped_norm_cfg`).
        init_cfg (dict, optional): Initialisation config.
    """

    # 2: the parts run batched (grouped convs), see the class doc; version 1
    # state dicts (per-part modules) are converted when loaded
    _version = 2

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
        self.num_parts = p = num_parts
        self.num_refs = num_refs
        self.downsample = downsample
        self.channels = channels
        conv = dict(bias=False, norm_cfg=norm_cfg)
        self.adapter = nn.Sequential(
            ConvModule(in_channels, in_channels, 3, padding=1, **conv),
            ConvModule(in_channels, channels, 1, **conv))
        self.saliency = nn.Conv2d(channels, 1, 3, padding=1)
        # the p part branches (1x1 -> 3x3 -> 1x1), side by side; the
        # grouped weights are (p * channels, channels, k, k): Kaiming fan_in
        # is that of one part's conv
        parts = dict(bias=False, norm_cfg=grouped_norm_cfg(norm_cfg, p))
        self.part_branches = nn.Sequential(
            ConvModule(channels, p * channels, 1, **parts),
            ConvModule(p * channels, p * channels, 3, padding=1, groups=p,
                       **parts),
            ConvModule(p * channels, p * channels, 1, groups=p, **parts))
        # ONE head shared by all parts (the authors'), so that the part
        # logits of different parts are comparable in the softmax of D^k
        self.part_head = nn.Conv2d(channels, 1, 3, padding=1)
        self.attention = PartCrossAttention(channels, attn_channels, p,
                                            scale_attention, norm_cfg)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            init_pdnet_weights(self)

    def decouple(self, appearance: Tensor) -> Dict[str, Tensor]:
        """Unsupervised part decoupling of one frame (stage 1).

        Args:
            appearance (Tensor): A, ``(B, in_channels, H/4, W/4)``.

        Returns:
            dict: ``parts`` P^k stacked, ``(B, p, channels, h, w)``;
            ``sal_logit`` ``(B, 1, h, w)``; ``part_logits`` ``(B, p, h, w)``
            (h, w = H/16, W/16).
        """
        h = appearance.shape[-2] // self.downsample
        w = appearance.shape[-1] // self.downsample
        x = resize_bilinear(appearance, (h, w))
        x = self.adapter(x)
        b, p, c = x.shape[0], self.num_parts, self.channels
        parts = self.part_branches(x)  # (B, p * C, h, w)
        # the shared head on the B * p part features: one conv, no weight
        # copies (reshape, not unflatten: ONNX export keeps h, w dynamic)
        part_logits = self.part_head(parts.reshape(b * p, c, h, w))
        return dict(
            parts=parts.reshape(b, p, c, h, w),
            sal_logit=self.saliency(x),
            part_logits=part_logits.reshape(b, p, h, w))

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
        kv = [self.attention.encode_reference(ref['parts']) for ref in refs]
        if len(kv) == 1:  # nothing to concatenate: no copy
            return kv[0]
        return dict(
            key=torch.cat([x['key'] for x in kv], dim=-1),
            value=torch.cat([x['value'] for x in kv], dim=-1))

    def assemble(self, target: Dict[str, Tensor],
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
        q = self.attention(target['parts'], ref_cache['key'],
                           ref_cache['value'])  # Q_t^k, (B, p, C, h, w)
        motion = (q * part_masks.unsqueeze(2)).sum(dim=1)  # eq. (2)
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

    # ------------------------------------------------------------------ #
    # state dicts of the per-part layout (version 1)
    # ------------------------------------------------------------------ #
    _PER_PART_KEY = re.compile(
        r'(?P<module>part_branches|attentions)\.(?P<part>\d+)\.(?P<rest>.+)')
    _BATCHED_MODULE = dict(part_branches='part_branches',
                           attentions='attention')

    @classmethod
    def upgrade_state_dict(cls, state_dict: dict, prefix: str = '') -> bool:
        """Convert the per-part weights of a version-1 IPDA, in place.

        Version 1 held one module per part: ``part_branches.{k}.{i}.*`` (a
        ``Sequential`` of three ConvModules per part) and
        ``attentions.{k}.*`` (one :class:`PartCrossAttention` per part).
        Their tensors are concatenated over k along the first (output
        channel) axis into ``part_branches.{i}.*`` and ``attention.*``;
        0-dim buffers (BN ``num_batches_tracked``, equal for all parts)
        are taken from part 0. Keys whose parts are not exactly 0..n-1 are
        left as they are (strict loading then reports them).

        Args:
            state_dict (dict): Weights, changed in place.
            prefix (str): Prefix of the IPDA's keys, e.g. ``'neck.'``.

        Returns:
            bool: Whether any key was converted.
        """
        groups = defaultdict(dict)  # new key -> {part: old key}
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            found = cls._PER_PART_KEY.fullmatch(key[len(prefix):])
            if found is None:
                continue
            module, rest = found['module'], found['rest']
            # version 1 branches are part_branches.{k}.{i}.*; version 2
            # keys part_branches.{i}.conv.* have no second index
            if module == 'part_branches' and not re.match(r'\d+\.', rest):
                continue
            new = f'{prefix}{cls._BATCHED_MODULE[module]}.{rest}'
            groups[new][int(found['part'])] = key
        converted = False
        for new, parts in groups.items():
            if sorted(parts) != list(range(len(parts))) or new in state_dict:
                continue
            tensors = [state_dict.pop(parts[k]) for k in range(len(parts))]
            state_dict[new] = tensors[0] if tensors[0].dim() == 0 else \
                torch.cat(tensors, dim=0)
            converted = True
        return converted

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        # a state dict without metadata (e.g. a dict comprehension over
        # one) has no version: the key pattern decides, and it matches no
        # version 2 key
        version = local_metadata.get('version')
        if version is None or version < 2:
            self.upgrade_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
