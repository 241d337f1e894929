"""Fast guided upsampling of the probabilities (apis/guided_upsampling.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_pdnet.apis.guided_upsampling import (GuidedUpsampler, box_mean,
                                                build_upsampler,
                                                fast_guided_upsample,
                                                guided_filter_coefficients)


def test_box_mean_is_the_clipped_window_mean():
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    r = 2
    expected = torch.empty_like(x)
    for i in range(7):
        for j in range(5):
            win = x[:, :, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1]
            expected[:, :, i, j] = win.mean((-2, -1))
    torch.testing.assert_close(box_mean(x, r), expected)
    assert box_mean(x, 0) is x
    # a window wider than the image: the image mean everywhere
    wide = box_mean(x, 9)
    torch.testing.assert_close(wide, x.mean((-2, -1), keepdim=True)
                               .expand_as(x))


def _reference_coefficients(guide, src, r, eps):
    """He et al.'s colour guided filter, one window at a time in float64
    with a general solver."""
    c, h, w = guide.shape[1:]
    a = torch.empty(1, c, h, w, dtype=torch.float64)
    b = torch.empty(1, 1, h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            win = np.s_[max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1]
            g = guide[0][(slice(None), ) + win].reshape(c, -1)
            p = src[0, 0][win].reshape(-1)
            mu, mp = g.mean(1), p.mean()
            cov = (g * p).mean(1) - mu * mp
            sigma = g @ g.T / g.shape[1] - torch.outer(mu, mu)
            a[0, :, i, j] = torch.linalg.solve(
                sigma + eps * torch.eye(c, dtype=torch.float64), cov)
            b[0, 0, i, j] = mp - a[0, :, i, j] @ mu
    return box_mean(a, r), box_mean(b, r)


@pytest.mark.parametrize('channels', [1, 3])
def test_coefficients_solve_each_windows_least_squares(channels):
    gen = torch.Generator().manual_seed(0)
    guide = torch.rand(1, channels, 9, 7, generator=gen, dtype=torch.float64)
    src = torch.rand(1, 1, 9, 7, generator=gen, dtype=torch.float64)
    a, b = guided_filter_coefficients(guide, src, 2, 1e-3)
    ra, rb = _reference_coefficients(guide, src, 2, 1e-3)
    assert a.shape == (1, channels, 9, 7) and b.shape == (1, 1, 9, 7)
    torch.testing.assert_close(a, ra)
    torch.testing.assert_close(b, rb)


def _edge_scene(h=61, w=83, low=(16, 21), edge=37.3, seed=0):
    """A frame with a sharp vertical edge at column ``edge`` (two colours
    of equal grey level, plus mild noise), its 0/1 truth and a blurred
    low-resolution probability of the truth, as a network gives."""
    gen = torch.Generator().manual_seed(seed)
    cols = torch.arange(w, dtype=torch.float32) + 0.5
    truth = (cols >= edge).float().expand(h, w)[None, None]
    left = torch.tensor([0.7, 0.3, 0.5]).view(1, 3, 1, 1)
    right = torch.tensor([0.3, 0.7, 0.5]).view(1, 3, 1, 1)
    frame = left * (1 - truth) + right * truth
    frame = (frame + 0.01 * torch.randn(1, 3, h, w, generator=gen)) * 255
    prob = F.interpolate(truth, size=low, mode='area')
    prob = box_mean(prob, 1)  # the network's blur
    return frame.clamp(0, 255), truth, prob


def test_guided_edge_error_is_below_bilinear():
    frame, truth, prob = _edge_scene()
    size = truth.shape[-2:]
    bilinear = F.interpolate(prob, size=size, mode='bilinear',
                             align_corners=False)
    guided = GuidedUpsampler(radius=2, eps=1e-3)(prob, frame)
    assert guided.shape == (1, 1, 61, 83)
    assert 0 <= guided.min() and guided.max() <= 1
    band = (torch.arange(83) - 37).abs() <= 6  # the edge +- 6 pixels
    err_b = (bilinear - truth)[..., band].abs().mean()
    err_g = (guided - truth)[..., band].abs().mean()
    assert err_g < 0.5 * err_b
    # a grey guide cannot see an edge between colours of one grey level
    grey = GuidedUpsampler(radius=2, eps=1e-3, color=False)(prob, frame)
    assert (grey - truth)[..., band].abs().mean() > 0.8 * err_b


def test_a_thin_part_lost_by_bilinear_is_kept():
    """A 5-pixel bar (a finger, a strand) that the low resolution blurs to
    a peak of 0.4: bilinear upsampling loses it at p >= 0.5, the guided
    filter finds it in the frame."""
    h, w = 61, 83
    cols = torch.arange(w) + 0.5
    truth = ((cols >= 40) & (cols < 45)).float().expand(h, w)[None, None]
    gen = torch.Generator().manual_seed(0)
    frame = torch.where(truth > 0, torch.tensor([80., 180., 120.]).view(
        1, 3, 1, 1), torch.tensor([180., 80., 120.]).view(1, 3, 1, 1))
    frame = (frame + 2 * torch.randn(1, 3, h, w, generator=gen))
    prob = box_mean(F.interpolate(truth, size=(16, 21), mode='area'), 1)
    assert prob.max() < 0.5
    bilinear = F.interpolate(prob, size=(h, w), mode='bilinear',
                             align_corners=False)
    guided = GuidedUpsampler(radius=2, eps=1e-3)(prob, frame.clamp(0, 255))
    assert not (bilinear >= 0.5).any()
    assert ((guided >= 0.5) != (truth > 0)).float().mean() < 0.01


@pytest.mark.parametrize('color', [True, False])
@pytest.mark.parametrize('size,low', [((45, 67), (15, 22)), ((7, 5), (3, 3)),
                                      ((20, 31), (20, 31))])
def test_a_flat_frame_gives_the_upsampled_window_mean(color, size, low):
    """No edge to follow: a = 0, and the result is the bilinear
    upsampling of the probability's window mean (close to plain
    bilinear upsampling), at odd sizes too."""
    gen = torch.Generator().manual_seed(1)
    prob = F.interpolate(torch.rand(1, 1, 3, 3, generator=gen), size=low,
                         mode='bilinear', align_corners=False)
    frame = torch.full((1, 3) + size, 128, dtype=torch.uint8)
    up = GuidedUpsampler(radius=1, eps=1e-2, color=color)
    out = up(prob, frame)
    expected = F.interpolate(box_mean(box_mean(prob, 1), 1), size=size,
                             mode='bilinear', align_corners=False)
    assert out.shape == (1, 1) + size and out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    if min(low) > 10:  # windows much smaller than the image
        bilinear = F.interpolate(prob, size=size, mode='bilinear',
                                 align_corners=False)
        assert (out - bilinear).abs().mean() < 0.03


def test_given_low_resolution_guide_is_used():
    frame, _, prob = _edge_scene()
    lowres = F.interpolate(frame, size=prob.shape[-2:], mode='bilinear',
                           align_corners=False, antialias=True)
    up = GuidedUpsampler()
    torch.testing.assert_close(up(prob, frame, lowres), up(prob, frame))
    # another guide, another result
    assert not torch.allclose(up(prob, frame, lowres.flip(-1)),
                              up(prob, frame))


def test_bad_arguments():
    with pytest.raises(ValueError, match='radius must be an integer >= 1'):
        GuidedUpsampler(radius=0)
    with pytest.raises(ValueError, match='eps must be > 0'):
        GuidedUpsampler(eps=0)
    with pytest.raises(ValueError, match=r'guide must be \(B, 1 or 3'):
        fast_guided_upsample(torch.rand(1, 1, 4, 4), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r'src must be \(B, 1, h, w\)'):
        guided_filter_coefficients(torch.rand(1, 3, 4, 4),
                                   torch.rand(1, 1, 4, 5), 1, 1e-3)
    with pytest.raises(ValueError, match="upsampling must be 'bilinear'"):
        build_upsampler('bicubic')
    assert build_upsampler('bilinear') is None
    assert isinstance(build_upsampler('guided'), GuidedUpsampler)
    assert build_upsampler(dict(radius=3)).radius == 3
