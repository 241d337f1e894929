# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmseg.registry import MODELS
from torch import Tensor, nn

from .precision import at_least_float32
from .reduction import reduce_samples


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

    def forward(self, parts: Tensor, reduction: str = 'mean') -> Tensor:
        """Compute the loss.

        Args:
            parts (Tensor): part masks X ``(..., p, H, W)`` with p >= 2;
                the leading dims are samples.
            reduction (str): ``'mean'`` averages over the samples,
                ``'none'`` keeps one value per sample, shape ``(...)``.

        Returns:
            Tensor: the loss (float32 or wider, also under AMP).
        """
        if parts.shape[-3] < 2:
            raise ValueError('the area variance loss needs at least 2 parts, '
                             f'got {parts.shape[-3]}')
        parts, = at_least_float32(parts)
        area = parts.sum(dim=(-2, -1))  # (..., p), eq. (4)
        area = area / area.norm(dim=-1, keepdim=True).clamp_min(self.eps)
        variance = area.var(dim=-1, unbiased=True)  # (...), eq. (3)
        return self.loss_weight * reduce_samples(variance, reduction)
