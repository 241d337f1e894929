# Copyright (c) mmseg-pdnet contributors. All rights reserved.
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
    output to the input size.

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
