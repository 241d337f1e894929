# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import resize_bilinear
from .precision import at_least_float32
from .reduction import REDUCTIONS


def _bilinear_axis(n_in: int, n_out: int, device) -> Tuple[Tensor, Tensor]:
    """Lower source index and upper weight of each output position of an
    ``align_corners=True`` bilinear resize along one axis, as PyTorch
    samples it: ``src = i (n_in - 1) / (n_out - 1)``."""
    if n_out > 1:
        src = torch.arange(n_out, dtype=torch.float64, device=device) * (
            (n_in - 1) / (n_out - 1))
    else:
        src = torch.zeros(1, dtype=torch.float64, device=device)
    low = src.floor().clamp(max=n_in - 1)
    return low.long(), src - low


@MODELS.register_module()
class SemanticConsistencyLoss(nn.Module):
    """Semantic consistency of part masks (SCOPS; paper sec. 4.4).

    Each part k owns a semantic prototype ``relu(w_k)`` (a row of the
    learnable basis); the part masks must reconstruct the frozen ImageNet
    features: ``MSE(sum_k X^k(u) relu(w_k), m(u) * f(u))`` averaged over all
    ``B * C * H * W`` elements, with f the stride-32 features upsampled
    bilinearly to the mask size and m the same mask that gated the parts
    (ground truth or saliency). No L2 normalisation (docs/fidelity.md).

    ``lean=True`` (default) never builds the ``(B, C, H, W)`` full-resolution
    tensors. Bilinear upsampling is linear, so with ``W = relu(w)``:

        ||X^T W - m f||^2 = X^T (W W^T) X - 2 m X . up(W f_low) + m^2 ||f||^2

    per pixel, where ``W f_low`` is a p-channel map computed at stride 32
    and ``||f||^2`` (no gradient: f is frozen) comes from the stride-32
    Gram entries of neighbouring vectors (:meth:`feature_energy`). Memory
    drops from O(B C H W) to O(B p H W); the value
    equals the straightforward form (``lean=False``, kept as the oracle).
    Both forms compute in (at least) float32, also under AMP autocast.

    Args:
        lean (bool): Use the memory-lean evaluation. Defaults to True.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, lean: bool = True, loss_weight: float = 1.0):
        super().__init__()
        self.lean = lean
        self.loss_weight = loss_weight

    def feature_energy(self, feats: Tensor, size) -> Tensor:
        """``||up(f)(u)||^2`` of the lean form, per pixel, without gradient.

        Computed at the features' resolution: a pixel of the bilinear
        (``align_corners=True``) upsampling mixes the four stride-32 vectors
        around it with weights ``a``, so its energy is ``a^T G a`` with G
        the 4 x 4 Gram matrix of those vectors. The entries of G are
        ``(B, 16, h, w)`` maps; the result gathers them per pixel, never
        forming the ``(B, C, H, W)`` upsampled features (equal to
        upsampling then summing squares within float rounding; tested).

        It depends on the frame only, not on the parts or the mask: a
        caller scoring several part maps of one frame (the part loss: by
        ground truth and by saliency) computes it once and passes it to
        :meth:`forward` as ``feat_energy``.

        Args:
            feats (Tensor): frozen features ``(B, C, h, w)``.
            size (tuple[int, int]): the part masks' ``(H, W)``.

        Returns:
            Tensor: ``(B, H, W)``, float32 or wider.
        """
        with torch.no_grad(), torch.autocast(feats.device.type,
                                             enabled=False):
            feats, = at_least_float32(feats)
            h, w = feats.shape[-2:]
            # the four corners' vectors (00, 01, 10, 11): the next row /
            # column, repeated at the last one (where its weight is 0)
            padded = F.pad(feats, (0, 1, 0, 1), mode='replicate')
            corners = torch.stack([padded[:, :, dy:dy + h, dx:dx + w]
                                   for dy in (0, 1) for dx in (0, 1)], 1)
            # (B, 4, 4, h, w): the Gram matrix of every stride-32 cell
            gram = torch.einsum('bichw,bjchw->bijhw', corners, corners)
            ys, wy = _bilinear_axis(h, size[0], feats.device)
            xs, wx = (ys, wy) if (w, size[1]) == (h, size[0]) else \
                _bilinear_axis(w, size[1], feats.device)
            gram = gram.flatten(1, 2)[:, :, ys][:, :, :, xs]  # (B,16,H,W)
            # corner weights a_i(u) = ay_dy(u) ax_dx(u), (4, H, W)
            ay = torch.stack([1 - wy, wy]).to(feats.dtype)[:, None, :, None]
            ax = torch.stack([1 - wx, wx]).to(feats.dtype)[None, :, None]
            a = (ay * ax).flatten(0, 1)
            # a^T G a: every (i, j), so each off-diagonal entry twice
            return (gram * (a[:, None] * a[None]).flatten(0, 1)).sum(1)

    def forward(self, parts: Tensor, feats: Tensor, mask: Tensor,
                basis: Tensor, feat_energy: Optional[Tensor] = None,
                reduction: str = 'mean') -> Tensor:
        """Compute the loss.

        Args:
            parts (Tensor): part masks X ``(..., B, p, H, W)`` (already
                gated by ``mask``); leading dims score several maskings of
                the same frames at once.
            feats (Tensor): frozen features f ``(B, C, h, w)`` at low
                resolution, without gradient.
            mask (Tensor): gating mask m ``(..., B, 1, H, W)``.
            basis (Tensor): part basis w ``(p, C)``; ``relu(w)`` is used.
            feat_energy (Tensor, optional): :meth:`feature_energy` of
                ``feats`` at the parts' size, when the caller has it
                (lean form only; computed here otherwise).
            reduction (str): ``'mean'`` (the loss, averaged over every
                element) or ``'none'`` (one value per sample, ``(..., B)``:
                the loss of each sample alone).

        Returns:
            Tensor: the loss (float32 or wider, also under AMP).
        """
        p = parts.shape[-3]
        if basis.shape != (p, feats.shape[1]):
            raise ValueError(f'basis must be (parts={p}, channels='
                             f'{feats.shape[1]}), got {tuple(basis.shape)}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        # float32 even under AMP: the lean form subtracts large per-pixel
        # terms, which fp16 / bf16 cannot resolve
        with torch.autocast(parts.device.type, enabled=False):
            return self._loss(*at_least_float32(parts, feats, mask, basis),
                              feat_energy, reduction)

    def _loss(self, parts: Tensor, feats: Tensor, mask: Tensor,
              basis: Tensor, feat_energy: Optional[Tensor],
              reduction: str) -> Tensor:
        """:meth:`forward` on inputs already cast to a float32+ dtype."""
        h, w = parts.shape[-2:]
        channels = feats.shape[1]
        prototypes = basis.relu()
        if not self.lean:
            target = resize_bilinear(feats, (h, w)) * mask
            recon = torch.einsum('...phw,pc->...chw', parts, prototypes)
            if reduction == 'mean':
                return self.loss_weight * F.mse_loss(recon, target)
            error = (recon - target).pow(2).mean(dim=(-3, -2, -1))
            return self.loss_weight * error

        gram = prototypes @ prototypes.t()  # (p, p)
        recon_sq = (parts * torch.einsum('qp,...phw->...qhw', gram,
                                         parts)).sum(-3)
        projected = resize_bilinear(
            torch.einsum('bchw,pc->bphw', feats, prototypes), (h, w))
        mask = mask[..., 0, :, :]
        cross = (parts * projected).sum(-3) * mask
        if feat_energy is None:
            feat_energy = self.feature_energy(feats, (h, w))
        energy = recon_sq - 2 * cross + mask.pow(2) * feat_energy
        if reduction == 'mean':
            return self.loss_weight * energy.sum() / (energy.numel() *
                                                      channels)
        return self.loss_weight * energy.sum(dim=(-2, -1)) / (channels * h *
                                                              w)
