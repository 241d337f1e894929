# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from .precision import at_least_float32


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

    def forward(self, parts: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            parts (Tensor): part masks X ``(B, p, H, W)``, non-negative.

        Returns:
            Tensor: scalar loss (float32 or wider, also under AMP).
        """
        parts, = at_least_float32(parts)
        _, _, h, w = parts.shape
        grid = dict(device=parts.device, dtype=parts.dtype)
        gy = torch.arange(h, **grid) / h * 2 - 1
        gx = torch.arange(w, **grid) / w * 2 - 1
        # marginals over one axis make the 2-D moments 1-D sums
        py, px = parts.sum(dim=3), parts.sum(dim=2)  # (B, p, H), (B, p, W)
        mass = py.sum(dim=2) + self.eps  # (B, p)
        variance = 0
        for marginal, g in ((py, gy), (px, gx)):
            centre = (marginal * g).sum(dim=2) / mass
            spread = (marginal * (g - centre[..., None])**2).sum(dim=2)
            variance = variance + spread / mass
        return self.loss_weight * variance.sum(dim=1).mean()
