"""The gated temporal filter of the probability stream
(apis/temporal_filter.py)."""
import pytest
import torch

from mmseg_pdnet.apis.temporal_filter import (TemporalFilter,
                                              build_temporal_filter)


def still_frames(n, h=12, w=16, noise=2., seed=0):
    """A still scene with sensor noise of a few grey levels."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h, w, generator=gen) * 200 + 20
    return [base + noise * torch.randn(1, 3, h, w, generator=gen)
            for _ in range(n)]


def flicker(n, h=24, w=32, seed=0):
    """Unsure probabilities that hover around 0.5 from frame to frame."""
    gen = torch.Generator().manual_seed(seed)
    return [0.5 + 0.1 * torch.randn(1, 1, h, w, generator=gen).clamp(-2, 2)
            for _ in range(n)]


def test_smooths_flicker_where_the_picture_is_still():
    frames, probs = still_frames(20, noise=1.), flicker(20)
    filt = TemporalFilter(momentum=0.8)
    out = [filt(p, f) for p, f in zip(probs, frames)]
    assert out[0].shape == (1, 1, 24, 32) and torch.equal(out[0], probs[0])

    def changes(seq):  # mean frame-to-frame change, and mask flips
        d = torch.stack([(b - a).abs().mean() for a, b in zip(seq, seq[1:])])
        flips = sum(((a >= .5) != (b >= .5)).float().mean()
                    for a, b in zip(seq, seq[1:]))
        return d.mean(), flips
    (d_in, flips_in), (d_out, flips_out) = changes(probs), changes(out)
    assert d_out < 0.5 * d_in and flips_out < 0.7 * flips_in
    # an average: the mean level is kept
    assert abs(torch.stack(out).mean() - torch.stack(probs).mean()) < 0.01


def test_follows_motion_at_once():
    """Where the picture changes by the motion threshold or more, the
    output is the current probability: a moving edge does not lag."""
    filt = TemporalFilter(momentum=0.9, motion_threshold=10, motion_radius=0)
    still = torch.full((1, 3, 8, 8), 100.)
    moved = still.clone()
    moved[..., :, 4:] += 30  # the right half changes
    p0, p1 = torch.full((1, 1, 8, 8), 0.2), torch.full((1, 1, 8, 8), 0.6)
    filt(p0, still)
    out = filt(p1, moved)
    assert torch.equal(out[..., 4:], p1[..., 4:])
    # the still half: 0.6 + 0.9 * (1 - 0.2) * (0.2 - 0.6)
    torch.testing.assert_close(out[..., :4],
                               torch.full((1, 1, 8, 4), 0.6 - 0.288))


def test_motion_is_dilated_and_resized_to_the_probability():
    filt = TemporalFilter(motion_threshold=10, motion_radius=1)
    a = torch.zeros(1, 3, 8, 8)
    b = a.clone()
    b[..., 4, 4] = 50
    m = filt.motion(b.mean(1, keepdim=True), a.mean(1, keepdim=True))
    assert m.shape == (1, 1, 8, 8)
    assert (m[..., 3:6, 3:6] == 1).all() and m.sum() == 9
    # the gate at model-input size, the probability at frame size
    filt(torch.full((1, 1, 31, 29), 0.4), a)
    out = filt(torch.full((1, 1, 31, 29), 0.5), b)
    assert out.shape == (1, 1, 31, 29)
    assert out[0, 0, 0, 0] < 0.5 and out[0, 0, 17, 16] == 0.5


def test_confident_predictions_pass():
    frames = still_frames(3, 6, 6)
    filt = TemporalFilter(momentum=0.9)
    certain = torch.ones(1, 1, 6, 6)
    filt(torch.zeros(1, 1, 6, 6), frames[0])
    assert torch.equal(filt(certain, frames[1]), certain)


def test_resets_on_request_and_on_a_size_change():
    frames = still_frames(4)
    filt = TemporalFilter(momentum=0.9)
    lo, hi = torch.full((1, 1, 12, 16), 0.4), torch.full((1, 1, 12, 16), 0.6)
    filt(lo, frames[0])
    assert not torch.equal(filt(hi, frames[1]), hi)
    filt.reset()
    assert torch.equal(filt(hi, frames[2]), hi)
    # another frame size: a new stream, no error
    small = torch.full((1, 1, 6, 8), 0.4)
    assert torch.equal(filt(small, frames[3][..., :6, :8]), small)
    # fresh(): same settings, no state, and the original keeps its own
    new = filt.fresh()
    assert new.momentum == 0.9 and new._state is None
    assert filt._state is not None


def test_momentum_zero_is_the_identity():
    filt = TemporalFilter(momentum=0)
    for p, f in zip(flicker(3), still_frames(3, 24, 32)):
        assert torch.equal(filt(p, f), p)


def test_bad_settings():
    with pytest.raises(ValueError, match=r'momentum must be in \[0, 1\)'):
        TemporalFilter(momentum=1)
    with pytest.raises(ValueError, match='motion_threshold must be > 0'):
        TemporalFilter(motion_threshold=0)
    with pytest.raises(ValueError, match='motion_radius must be an integer'):
        TemporalFilter(motion_radius=-1)
    with pytest.raises(ValueError, match=r'prob must be \(B, 1, H, W\)'):
        TemporalFilter()(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match='temporal_filter must be None'):
        build_temporal_filter('ema')
    assert build_temporal_filter(None) is None
    assert build_temporal_filter(False) is None
    assert isinstance(build_temporal_filter(True), TemporalFilter)
    assert build_temporal_filter(dict(momentum=0.3)).momentum == 0.3
