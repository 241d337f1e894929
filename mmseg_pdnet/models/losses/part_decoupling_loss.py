# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Dict, Optional, Sequence

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import resize_bilinear
from .area_variance_loss import AreaVarianceLoss
from .geometric_concentration_loss import GeometricConcentrationLoss
from .orthonormal_loss import OrthonormalLoss
from .precision import at_least_float32
from .semantic_consistency_loss import SemanticConsistencyLoss


@MODELS.register_module()
class PartDecouplingLoss(nn.Module):
    """Self-supervised part losses of the IPDA module (paper eq. 5-7).

    The part logits are upsampled to the mask size and softmaxed over parts
    (P). Two gated versions are supervised: ``P * G`` (ground truth, eq. 5)
    and ``P * sigmoid(S)`` (saliency, eq. 1). With
    ``weighting='authors'`` (default, the authors' code):

        geo(PG) + geo(PS)/2 + sem(PG) + sem(PS)/2 + ortho(w)
        + (area(PG) + area(PS))/2

    and with ``weighting='paper'`` (eq. 6): ``(Lpart(PG) + Lpart(PS))/2 +
    ortho(w)``, where Lpart = geo + sem + area (eq. 7).

    The learnable basis w (``p x C``, initialised ``|N(0, 1)|``, used as
    ``relu(w)``) belongs to this module and is trained with the heads; it
    exists only when the semantic term is on. The
    frozen feature extractor is kept OUT of the module tree (no parameters,
    no state-dict entries, never exported) and moved to the input's device
    on use.

    Setting a weight to 0 switches its term off (paper table 3 ablations:
    geo only = sem and area weights 0; geo + area = sem weight 0). With the
    semantic term off the extractor and the basis are not used.

    Args:
        num_parts (int): Number of parts p (>= 2).
        feat_channels (int): Channels of the semantic features. Defaults
            to 512 (ResNet-18 layer4).
        loss_geo_weight (float): Weight of the concentration loss.
        loss_sem_weight (float): Weight of the semantic consistency loss.
        loss_ortho_weight (float): Weight of the orthonormality loss.
        loss_area_weight (float): Weight of the area variance loss.
        weighting (str): ``'authors'`` or ``'paper'``.
        semantic_extractor (dict): Config of the frozen extractor.
        lean (bool): Memory-lean semantic loss. Defaults to True.
    """

    def __init__(self,
                 num_parts: int = 5,
                 feat_channels: int = 512,
                 loss_geo_weight: float = 1.0,
                 loss_sem_weight: float = 1.0,
                 loss_ortho_weight: float = 1.0,
                 loss_area_weight: float = 1.0,
                 weighting: str = 'authors',
                 semantic_extractor: Optional[dict] = dict(
                     type='FrozenResNet18Features', checkpoint=None),
                 lean: bool = True):
        super().__init__()
        if num_parts < 2:
            raise ValueError('part losses need num_parts >= 2 (with p = 1 '
                             f'they are off, paper table 4), got {num_parts}')
        if weighting not in ('authors', 'paper'):
            raise ValueError("weighting must be 'authors' or 'paper', got "
                             f'{weighting!r}')
        self.weighting = weighting
        self.geo = GeometricConcentrationLoss(loss_weight=loss_geo_weight)
        self.area = AreaVarianceLoss(loss_weight=loss_area_weight)
        self.use_sem = loss_sem_weight > 0
        self.use_ortho = self.use_sem and loss_ortho_weight > 0
        self.use_area = loss_area_weight > 0
        self.sem = SemanticConsistencyLoss(lean=lean,
                                           loss_weight=loss_sem_weight)
        self.ortho = OrthonormalLoss(loss_weight=loss_ortho_weight)
        self.basis = None  # no unused parameter when Lsem is off
        self._extractor = None
        if self.use_sem:
            self.basis = nn.Parameter(
                torch.randn(num_parts, feat_channels).abs())
            if semantic_extractor is None:
                raise ValueError('loss_sem_weight > 0 needs a '
                                 'semantic_extractor config')
            # a plain attribute (not a submodule): outside state_dict,
            # parameters() and every exported graph
            object.__setattr__(self, '_extractor',
                               MODELS.build(semantic_extractor))

    def semantic_features(self, img: Tensor) -> Optional[Tensor]:
        """Frozen features of normalised RGB frames ``(B, 3, H, W)``.

        Returns:
            Tensor, optional: ``(B, C, H/32, W/32)``, or None when the
            semantic term is off.
        """
        if not self.use_sem:
            return None
        self._extractor.to(img.device)
        return self._extractor(img)

    def forward(self, part_logits: Tensor, sal_logit: Tensor, gt: Tensor,
                feats: Optional[Tensor]) -> Dict[str, Tensor]:
        """Compute the part losses of one frame.

        Args:
            part_logits (Tensor): ``(B, p, h, w)`` part logits.
            sal_logit (Tensor): ``(B, 1, h, w)`` saliency logit.
            gt (Tensor): ``(B, 1, H, W)`` mask in [0, 1].
            feats (Tensor, optional): :meth:`semantic_features` output.

        Returns:
            dict[str, Tensor]: ``loss_geo``, ``loss_sem``, ``loss_ortho``,
            ``loss_area`` (only the terms switched on), weighted so that
            their sum is the frame's total part loss.
        """
        terms = self.forward_frames([part_logits], [sal_logit], [gt], feats)
        return {name: value[0] for name, value in terms.items()}

    def forward_frames(self, part_logits: Sequence[Tensor],
                       sal_logits: Sequence[Tensor], gts: Sequence[Tensor],
                       feats: Optional[Tensor]) -> Dict[str, Tensor]:
        """Compute the part losses of F frames at once.

        Every term of every (frame, masking) pair is one sample of one
        batch: each loss runs once, not 2F times. Entry f of each result
        equals :meth:`forward` of frame f alone.

        Args:
            part_logits (Sequence[Tensor]): F ``(B, p, h, w)`` part logits.
            sal_logits (Sequence[Tensor]): F ``(B, 1, h, w)`` saliency
                logits.
            gts (Sequence[Tensor]): F ``(B, 1, H, W)`` masks in [0, 1].
            feats (Tensor, optional): :meth:`semantic_features` of the F
                frames concatenated in this order, ``(F * B, C, h', w')``.

        Returns:
            dict[str, Tensor]: ``(F,)`` per-frame values of ``loss_geo``,
            ``loss_sem``, ``loss_ortho``, ``loss_area`` (the terms switched
            on), as :meth:`forward`.
        """
        frames = len(part_logits)
        # float32 also under AMP: full-resolution sums (precision.py)
        part_logits, sal_logit = at_least_float32(_cat(part_logits),
                                                  _cat(sal_logits))
        gt = _cat(gts)
        size = gt.shape[-2:]
        probs = resize_bilinear(part_logits, size).softmax(dim=1)
        saliency = resize_bilinear(sal_logit, size).sigmoid()
        # the two maskings: ground truth (eq. 5) and saliency (eq. 1)
        masks = torch.stack([gt.to(probs.dtype), saliency])  # (2, FB, 1..)
        parts = probs * masks  # (2, F * B, p, H, W)
        per_sample = dict(geo=self.geo(parts, 'none'))
        if self.use_sem:
            # the frozen features' energy is the same for both maskings
            energy = (self.sem.feature_energy(feats, size)
                      if self.sem.lean else None)
            per_sample['sem'] = self.sem(parts, feats, masks, self.basis,
                                         energy, 'none')
        if self.use_area:
            per_sample['area'] = self.area(parts, 'none')
        # (2, F * B) -> per masking and frame, averaged over the batch
        by_gt, by_sal = {}, {}
        for name, value in per_sample.items():
            by_gt[name], by_sal[name] = value.unflatten(
                1, (frames, -1)).mean(dim=2)
        if self.weighting == 'authors':
            losses = {
                'loss_geo': by_gt['geo'] + by_sal['geo'] / 2,
            }
            if self.use_sem:
                losses['loss_sem'] = by_gt['sem'] + by_sal['sem'] / 2
            if self.use_area:
                losses['loss_area'] = (by_gt['area'] + by_sal['area']) / 2
        else:  # eq. (6)
            losses = {f'loss_{k}': (by_gt[k] + by_sal[k]) / 2 for k in by_gt}
        if self.use_ortho:
            # one basis for every frame
            losses['loss_ortho'] = self.ortho(self.basis).expand(frames)
        return losses


def _cat(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along the batch axis; one tensor is returned as it is
    (no copy)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(list(tensors))
