# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class WeightedBCELoss(nn.Module):
    """Weighted binary cross-entropy of PDNet's segmentation loss (sec. 4.4).

    The authors' scalar-weight form (docs/fidelity.md): mean
    BCE-with-logits multiplied by ONE scalar for the whole batch,
    ``w = B*H*W / (number of pixels with gt >= 0.5 + 1)``, which up-weights
    batches with small portraits.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logit: Tensor, target: Tensor,
                per_channel: bool = False) -> Tensor:
        """Compute the loss.

        Args:
            logit (Tensor): ``(B, 1, H, W)`` foreground logits; with
                ``per_channel``, ``(B, N, H, W)``: N outputs scored at once.
            target (Tensor): masks in [0, 1], shaped as ``logit``.
            per_channel (bool): Return the ``(N,)`` losses of the N
                channels, each as this loss of that channel alone (its own
                weight w). Defaults to False.

        Returns:
            Tensor: scalar loss, or ``(N,)`` with ``per_channel``.
        """
        target = target.to(logit.dtype)
        if not per_channel:
            weight = target.numel() / ((target >= 0.5).sum() + 1)
            bce = F.binary_cross_entropy_with_logits(logit, target)
            return self.loss_weight * weight * bce
        dims = (0, 2, 3)
        pixels = target.numel() // target.shape[1]
        weight = pixels / ((target >= 0.5).sum(dim=dims) + 1)
        bce = F.binary_cross_entropy_with_logits(
            logit, target, reduction='none').mean(dim=dims)
        return self.loss_weight * weight * bce
