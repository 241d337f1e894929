# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Edge-aware upsampling of a probability map, guided by the frame.

The network sees the frame at its input size (e.g. 128x128 or 480x480) and
its probabilities are smooth at that resolution: upsampled bilinearly to a
larger frame, the mask edge is a soft ramp a few frame pixels wide that
cuts across hair, fingers and clothing edges. The fast guided filter (He,
Sun and Tang, "Guided Image Filtering", TPAMI 2013; He and Sun, "Fast
Guided Filter", arXiv:1505.00996), which RobustVideoMatting and MediaPipe
use for the same purpose, models the probability in every small window as
a linear function of the frame, ``q = a . I + b``, fits ``a`` and ``b`` at
the LOW resolution (where the probability lives, so it costs little), then
upsamples the smooth coefficients bilinearly and applies them to the
full-resolution frame: the edges of ``q`` follow the frame's edges. On a
flat frame ``a = 0`` and ``q`` is the upsampled window mean of the
probability: plain (slightly smoothed) bilinear upsampling.

Everything runs in torch on the probability's device: box means are
separable ``avg_pool2d`` (``count_include_pad=False``: windows are clipped
at the border and averaged over the pixels they hold, as He's ``boxfilter``
normalised by ``N``), and the colour guide's 3x3 systems are solved in
closed form (adjugate), with no per-pixel loop.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over ``(2r+1) x (2r+1)`` windows, clipped at the border.

    Args:
        x (Tensor): ``(B, C, H, W)``, floating point.
        radius (int): ``r >= 0``; 0 returns ``x``.

    Returns:
        Tensor: ``(B, C, H, W)``; at the border, the mean over the part of
        the window inside the image.
    """
    if radius == 0:
        return x
    k = 2 * radius + 1
    # separable: the clipped window is a rectangle, whose mean is the mean
    # of its row means (exact, not an approximation)
    x = F.avg_pool2d(x, (k, 1), stride=1, padding=(radius, 0),
                     count_include_pad=False)
    return F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius),
                        count_include_pad=False)


def _solve_sym3(s00, s01, s02, s11, s12, s22, r0, r1, r2):
    """Solve ``S a = r`` per pixel for symmetric positive-definite 3x3 S
    (Cramer's rule with the adjugate; each argument ``(B, 1, h, w)``)."""
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    a0 = (c00 * r0 + c01 * r1 + c02 * r2) / det
    a1 = (c01 * r0 + c11 * r1 + c12 * r2) / det
    a2 = (c02 * r0 + c12 * r1 + c22 * r2) / det
    return torch.cat([a0, a1, a2], 1)


def guided_filter_coefficients(guide: Tensor, src: Tensor, radius: int,
                               eps: float) -> Tuple[Tensor, Tensor]:
    """The guided filter's window-averaged linear coefficients.

    For every window w_k the least-squares fit ``src ~ a_k . guide + b_k``
    with ridge ``eps |a_k|^2`` (He et al. 2013, eq. 5-6 for a grey guide,
    eq. 14 for a colour one); then each pixel averages the coefficients of
    the windows that hold it (eq. 8).

    Args:
        guide (Tensor): ``(B, C, h, w)`` guide, C = 1 (grey) or 3 (colour),
            values in about [0, 1] (``eps`` is relative to that range).
        src (Tensor): ``(B, 1, h, w)`` image to filter (probabilities).
        radius (int): Window radius ``r >= 1`` in pixels of ``guide``.
        eps (float): Regularisation ``> 0``: edges whose variance is well
            above ``eps`` are kept, flatter ones are smoothed.

    Returns:
        tuple[Tensor, Tensor]: ``a`` ``(B, C, h, w)`` and ``b``
        ``(B, 1, h, w)``, the output being ``(a * guide).sum(1) + b``.
    """
    if guide.dim() != 4 or guide.shape[1] not in (1, 3):
        raise ValueError(f'guide must be (B, 1 or 3, h, w), got '
                         f'{tuple(guide.shape)}')
    if src.dim() != 4 or src.shape[1] != 1 or \
            src.shape[-2:] != guide.shape[-2:] or src.shape[0] != \
            guide.shape[0]:
        raise ValueError(f'src must be (B, 1, h, w) of the guide\'s batch '
                         f'and size {tuple(guide.shape)}, got '
                         f'{tuple(src.shape)}')
    if radius < 1 or not eps > 0:
        raise ValueError(f'need radius >= 1 and eps > 0, got radius '
                         f'{radius}, eps {eps}')
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    if guide.shape[1] == 1:
        var_i = box_mean(guide * guide, radius) - mean_i * mean_i
        a = cov_ip / (var_i + eps)
    else:
        # the 6 distinct entries of each window's colour covariance
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        prod = torch.cat([guide[:, i:i + 1] * guide[:, j:j + 1]
                          for i, j in pairs], 1)
        mean_ij = torch.cat([mean_i[:, i:i + 1] * mean_i[:, j:j + 1]
                             for i, j in pairs], 1)
        sigma = box_mean(prod, radius) - mean_ij
        # ridge on the diagonal: S + eps I is positive definite
        sigma = sigma + sigma.new_tensor(
            [eps, 0, 0, eps, 0, eps]).view(1, 6, 1, 1)
        a = _solve_sym3(*sigma.split(1, 1), *cov_ip.split(1, 1))
    b = mean_p - (a * mean_i).sum(1, keepdim=True)
    return box_mean(a, radius), box_mean(b, radius)


def _resize(x: Tensor, size: Tuple[int, int]) -> Tensor:
    # half-pixel centres (align_corners=False): the grid of OpenCV's and of
    # the antialiased resize that make the low-resolution guide
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode='bilinear',
                         align_corners=False)


def fast_guided_upsample(prob: Tensor, guide: Tensor,
                         guide_lowres: Optional[Tensor] = None,
                         radius: int = 2, eps: float = 1e-3) -> Tensor:
    """Upsample a probability map to the guide's size along its edges.

    Args:
        prob (Tensor): ``(B, 1, h, w)`` probabilities at low resolution.
        guide (Tensor): ``(B, C, H, W)`` full-resolution guide (C = 1 or 3,
            values in [0, 1]), any ``H >= 1, W >= 1`` (odd sizes and
            aspect ratios other than the probability's are fine).
        guide_lowres (Tensor, optional): ``(B, C, h, w)`` the guide at the
            probability's size. Defaults to the antialiased bilinear
            downsampling of ``guide`` (half-pixel centres, as the
            coefficients are upsampled).
        radius (int): Window radius in LOW-resolution pixels.
        eps (float): See :func:`guided_filter_coefficients`.

    Returns:
        Tensor: ``(B, 1, H, W)`` float32 probabilities, clamped to [0, 1].
    """
    guide = guide.float()
    prob = prob.float()
    size = tuple(prob.shape[-2:])
    if guide_lowres is None:
        guide_lowres = F.interpolate(guide, size=size, mode='bilinear',
                                     align_corners=False, antialias=True) \
            if tuple(guide.shape[-2:]) != size else guide
    a, b = guided_filter_coefficients(guide_lowres.float(), prob, radius,
                                      eps)
    full = tuple(guide.shape[-2:])
    out = (_resize(a, full) * guide).sum(1, keepdim=True) + _resize(b, full)
    return out.clamp_(0, 1)


class GuidedUpsampler:
    """Fast guided upsampling of the stream's probabilities to the frame.

    :class:`~mmseg_pdnet.apis.VideoPortraitInferencer` calls it with the
    probability at the model input size and the uploaded frame.

    Args:
        radius (int): Window radius in pixels of the model input
            (``>= 1``). Defaults to 6: 13x13 windows, chosen on the
            demo's training clips (128x128 input) among 1-8; a larger
            input wants a proportionally larger radius.
        eps (float): Regularisation (``> 0``, guide in [0, 1]). Defaults
            to 1e-3 (edges of contrast above about 0.03 are followed;
            1e-4 and 1e-2 scored lower on the demo).
        color (bool): A colour guide (the 3x3 covariance of He et al.'s
            colour filter: edges between equally bright colours are kept)
            rather than its grey level. Defaults to True (the grey guide
            scored lower on the demo at every radius from 3).
    """

    def __init__(self, radius: int = 6, eps: float = 1e-3,
                 color: bool = True):
        if not isinstance(radius, int) or radius < 1:
            raise ValueError(f'guided upsampling: radius must be an integer '
                             f'>= 1, got {radius!r}')
        if not eps > 0:
            raise ValueError(f'guided upsampling: eps must be > 0, got '
                             f'{eps!r}')
        self.radius, self.eps, self.color = radius, float(eps), bool(color)

    def __repr__(self) -> str:
        return (f'GuidedUpsampler(radius={self.radius}, eps={self.eps}, '
                f'color={self.color})')

    @staticmethod
    def to_guide(frame: Tensor, color: bool = True) -> Tensor:
        """An uploaded frame as a guide in [0, 1].

        Args:
            frame (Tensor): ``(B, 3, H, W)`` frame, uint8 or float 0-255.
            color (bool): Keep the 3 channels, else their mean.

        Returns:
            Tensor: ``(B, 3 or 1, H, W)`` float32.
        """
        guide = frame.float() / 255
        return guide if color else guide.mean(1, keepdim=True)

    def __call__(self, prob: Tensor, frame: Tensor,
                 frame_lowres: Optional[Tensor] = None) -> Tensor:
        """Upsample.

        Args:
            prob (Tensor): ``(B, 1, h, w)`` probabilities.
            frame (Tensor): ``(B, 3, H, W)`` full-resolution frame, uint8 or
                float 0-255 (any channel order: a colour guide only looks
                at colour differences).
            frame_lowres (Tensor, optional): ``(B, 3, h, w)`` the frame at
                the probability's size, same scale; defaults to the
                antialiased downsampling of ``frame``.

        Returns:
            Tensor: ``(B, 1, H, W)`` float32 probabilities in [0, 1].
        """
        low = None if frame_lowres is None else \
            self.to_guide(frame_lowres, self.color)
        return fast_guided_upsample(prob, self.to_guide(frame, self.color),
                                    low, self.radius, self.eps)


def build_upsampler(upsampling: Union[None, str, dict, GuidedUpsampler]
                    ) -> Optional[GuidedUpsampler]:
    """``VideoPortraitInferencer(upsampling=...)``: None or ``'bilinear'``
    (no guided upsampling), ``'guided'``, a dict of
    :class:`GuidedUpsampler` arguments, or an instance."""
    if upsampling is None or upsampling == 'bilinear':
        return None
    if upsampling == 'guided':
        return GuidedUpsampler()
    if isinstance(upsampling, dict):
        return GuidedUpsampler(**upsampling)
    if isinstance(upsampling, GuidedUpsampler):
        return upsampling
    raise ValueError(f"upsampling must be 'bilinear', 'guided', a dict of "
                     f'GuidedUpsampler arguments or a GuidedUpsampler, got '
                     f'{upsampling!r}')
