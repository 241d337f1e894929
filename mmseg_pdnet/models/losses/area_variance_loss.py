# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmseg.registry import MODELS
from torch import Tensor, nn

from .precision import at_least_float32


@MODELS.register_module()
class AreaVarianceLoss(nn.Module):
    """Area variance of part masks (paper eq. 3-4).

    ``area(X^k) = sum_ij X^k(i, j)`` (eq. 4); the areas of the p parts are
    divided by ``max(||area||_2, eps)`` and their unbiased variance over
    parts (eq. 3) is averaged over the batch. It discourages oversized and
    undersized parts. Undefined for p = 1 (one part has no variance).

    Args:
        eps (float): Lower bound of the norm. Defaults to 1e-12.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, eps: float = 1e-12, loss_weight: float = 1.0):
        super().__init__()
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, parts: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            parts (Tensor): part masks X ``(B, p, H, W)`` with p >= 2.

        Returns:
            Tensor: scalar loss (float32 or wider, also under AMP).
        """
        if parts.shape[1] < 2:
            raise ValueError('the area variance loss needs at least 2 parts, '
                             f'got {parts.shape[1]}')
        parts, = at_least_float32(parts)
        area = parts.sum(dim=(2, 3))  # (B, p), eq. (4)
        area = area / area.norm(dim=1, keepdim=True).clamp_min(self.eps)
        return self.loss_weight * area.var(dim=1, unbiased=True).mean()
