# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from .precision import at_least_float32
from .reduction import reduce_samples


@MODELS.register_module()
class GeometricConcentrationLoss(nn.Module):
    """Geometric concentration of part masks (SCOPS; paper sec. 4.4).

    Pixels of each part should gather around the part's centre: with
    coordinates ``arange(N) / N * 2 - 1`` on each axis, the centre is
    ``c_k = sum(g * X^k) / (sum X^k + eps)`` and the spread
    ``v_k = sum(X^k * (g - c_k)^2) / (sum X^k + eps)``; the loss sums
    ``v_x + v_y`` over parts and averages over the batch.

    Args:
        eps (float): Stabiliser of the normalisation. Defaults to 1e-7.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, eps: float = 1e-7, loss_weight: float = 1.0):
        super().__init__()
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, parts: Tensor, reduction: str = 'mean') -> Tensor:
        """Compute the loss.

        Args:
            parts (Tensor): part masks X ``(..., p, H, W)``, non-negative;
                the leading dims are samples (``(B, p, H, W)``, or several
                frames and maskings at once).
            reduction (str): ``'mean'`` averages over the samples,
                ``'none'`` keeps one value per sample, shape ``(...)``.

        Returns:
            Tensor: the loss (float32 or wider, also under AMP).
        """
        parts, = at_least_float32(parts)
        h, w = parts.shape[-2:]
        grid = dict(device=parts.device, dtype=parts.dtype)
        gy = torch.arange(h, **grid) / h * 2 - 1
        gx = gy if w == h else torch.arange(w, **grid) / w * 2 - 1
        # marginals over one axis make the 2-D moments 1-D sums
        py, px = parts.sum(dim=-1), parts.sum(dim=-2)  # (.., p, H), (.., W)
        mass = py.sum(dim=-1) + self.eps  # (..., p)
        variance = []
        for marginal, g in ((py, gy), (px, gx)):
            centre = (marginal * g).sum(dim=-1) / mass
            spread = (marginal * (g - centre[..., None])**2).sum(dim=-1)
            variance.append(spread / mass)
        variance = (variance[0] + variance[1]).sum(dim=-1)  # (...)
        return self.loss_weight * reduce_samples(variance, reduction)
