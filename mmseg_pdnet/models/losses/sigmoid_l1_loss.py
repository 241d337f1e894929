# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class SigmoidL1Loss(nn.Module):
    """L1 distance between sigmoid(logit) and the mask (paper sec. 4.4).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logit: Tensor, target: Tensor) -> Tensor:
        """Mean ``|sigmoid(logit) - target|`` over all elements.

        Args:
            logit (Tensor): ``(B, 1, H, W)`` foreground logits.
            target (Tensor): ``(B, 1, H, W)`` masks in [0, 1].

        Returns:
            Tensor: scalar loss.
        """
        diff = logit.sigmoid() - target.to(logit.dtype)
        return self.loss_weight * diff.abs().mean()
