# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from collections import defaultdict
from typing import List, Sequence

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import resize_bilinear
from .precision import at_least_float32
from .sigmoid_l1_loss import SigmoidL1Loss
from .weighted_bce_loss import WeightedBCELoss


@MODELS.register_module()
class PDSegLoss(nn.Module):
    """Lseg = weighted BCE + ``l1_weight`` * L1 (paper sec. 4.4).

    Logits of any resolution are first upsampled (bilinear,
    ``align_corners=True``) to the mask size, as the authors upsample every
    output to the input size. :meth:`forward_multi` scores many outputs
    (PDNet's final, side and saliency outputs of every frame) in a few
    kernels instead of a dozen per output.

    Args:
        l1_weight (float): Weight of the L1 term. Defaults to 0.8.
        loss_weight (float): Multiplier of the whole loss. Defaults to 1.0.
        loss_name (str): Name of the loss. Defaults to ``'loss_seg'``.
    """

    def __init__(self,
                 l1_weight: float = 0.8,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_seg'):
        super().__init__()
        self.bce = WeightedBCELoss()
        self.l1 = SigmoidL1Loss(loss_weight=l1_weight)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, logit: Tensor, target: Tensor) -> Tensor:
        """Compute Lseg.

        Args:
            logit (Tensor): ``(B, 1, h, w)`` logits.
            target (Tensor): ``(B, 1, H, W)`` masks in [0, 1].

        Returns:
            Tensor: scalar loss.
        """
        logit, = at_least_float32(logit)  # full-frame means (precision.py)
        logit = resize_bilinear(logit, target.shape[-2:])
        return self.loss_weight * (self.bce(logit, target) +
                                   self.l1(logit, target))

    def forward_multi(self, logits: Sequence[Tensor],
                      targets: Sequence[Tensor],
                      target_index: Sequence[int]) -> Tensor:
        """Lseg of N outputs at once.

        The logits of each size are concatenated along the channels and
        resized together, then all N channels are scored by one BCE and
        one L1 (each channel with its own BCE weight, as alone).

        Args:
            logits (Sequence[Tensor]): N ``(B, 1, h_i, w_i)`` logits.
            targets (Sequence[Tensor]): T ``(B, 1, H, W)`` masks in [0, 1].
            target_index (Sequence[int]): the mask of each output, indices
                into ``targets``.

        Returns:
            Tensor: ``(N,)``; entry i equals
            ``forward(logits[i], targets[target_index[i]])``.
        """
        if len(target_index) != len(logits):
            raise ValueError(f'{len(logits)} logits but {len(target_index)} '
                             'target indices')
        size = targets[0].shape[-2:]
        by_size = defaultdict(list)  # first-seen order
        for i, logit in enumerate(logits):
            by_size[tuple(logit.shape[-2:])].append(i)
        order = [i for group in by_size.values() for i in group]
        maps = []
        for group in by_size.values():
            x, = at_least_float32(_cat_channels([logits[i] for i in group]))
            maps.append(resize_bilinear(x, size))
        logit = _cat_channels(maps)  # (B, N, H, W), outputs in ``order``
        target = _cat_channels([targets[target_index[i]] for i in order])
        loss = self.loss_weight * (
            self.bce(logit, target, per_channel=True) +
            self.l1(logit, target, per_channel=True))
        if order == sorted(order):
            return loss
        return loss[[order.index(i) for i in range(len(order))]]


def _cat_channels(tensors: List[Tensor]) -> Tensor:
    """Concatenate along the channels; one tensor is returned as it is."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=1)
