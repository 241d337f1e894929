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

    def forward(self, logit: Tensor, target: Tensor,
                per_channel: bool = False) -> Tensor:
        """Mean ``|sigmoid(logit) - target|`` over all elements.

        Args:
            logit (Tensor): ``(B, 1, H, W)`` foreground logits; with
                ``per_channel``, ``(B, N, H, W)``: N outputs scored at once.
            target (Tensor): masks in [0, 1], shaped as ``logit``.
            per_channel (bool): Return the ``(N,)`` means of the N channels
                (over batch and pixels). Defaults to False.

        Returns:
            Tensor: scalar loss, or ``(N,)`` with ``per_channel``.
        """
        diff = (logit.sigmoid() - target.to(logit.dtype)).abs()
        return self.loss_weight * (diff.mean(dim=(0, 2, 3))
                                   if per_channel else diff.mean())
