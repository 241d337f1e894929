# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class OrthonormalLoss(nn.Module):
    """Orthonormality of the learnable part basis (SCOPS; paper sec. 4.4).

    Rows of the non-negative basis ``relu(w)`` (one semantic prototype per
    part, the same basis the semantic consistency loss uses, as in the
    authors' code) are L2-normalised and ``sum((W W^T - I)^2)`` pushes them
    apart, so that different parts carry different semantics.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, basis: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            basis (Tensor): ``(p, C)`` raw part basis w (relu is applied
                here).

        Returns:
            Tensor: scalar loss.
        """
        w = F.normalize(F.relu(basis), dim=1)
        eye = torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
        return self.loss_weight * ((w @ w.t() - eye)**2).sum()
