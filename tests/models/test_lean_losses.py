"""Memory-lean part losses against their straightforward oracle.

The straightforward semantic-consistency loss (``lean=False``) builds the
``(B, C, H, W)`` reconstruction and target at full resolution; the lean
form must give the same value and gradients (relative difference <= 1e-5
in float32) and a training step whose peak memory is <= 40% of the
straightforward one.
"""
import warnings

import pytest
import torch
import torch.nn.functional as F

from mmseg_pdnet.models.losses import (PartDecouplingLoss,
                                       SemanticConsistencyLoss)
from tests.helpers import build_model, import_tool, r50_model_cfg

RTOL = 1e-5


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the oracle's largest magnitude."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def semantic_inputs(b, p, h, w, c=512, seed=0):
    """Realistic magnitudes: parts = softmax * mask in [0, 1], features
    non-negative (post-ReLU layer4), basis |N(0, 1)| as initialised."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, 1, h, w, generator=gen)
    parts = torch.randn(b, p, h, w, generator=gen).softmax(1) * mask
    feats = torch.randn(b, c, max(h // 32, 1), max(w // 32, 1),
                        generator=gen).relu() * 2
    basis = torch.randn(p, c, generator=gen).abs()
    basis[0, :7] = -1.  # relu(w) clips these: a zero-gradient region
    return parts, feats, mask, basis


def loss_and_grads(loss_fn, parts, feats, mask, basis):
    parts, mask, basis = (t.clone().requires_grad_()
                          for t in (parts, mask, basis))
    value = loss_fn(parts, feats, mask, basis)
    value.backward()
    return value.detach(), parts.grad, mask.grad, basis.grad


# 480x480 at small scale: feature maps that are not a power of two and
# non-square odd sizes whose stride-32 grid does not divide them
@pytest.mark.parametrize('b,p,h,w', [(2, 5, 64, 64), (2, 5, 120, 120),
                                     (1, 3, 75, 97), (2, 5, 480 // 4, 33)])
def test_semantic_loss_lean_equals_straightforward(b, p, h, w):
    inputs = semantic_inputs(b, p, h, w)
    lean = loss_and_grads(SemanticConsistencyLoss(lean=True), *inputs)
    oracle = loss_and_grads(SemanticConsistencyLoss(lean=False), *inputs)
    for name, got, want in zip(('value', 'd parts', 'd mask', 'd basis'),
                               lean, oracle):
        assert rel_diff(got, want) <= RTOL, name
    assert oracle[0] > 0
    # the clipped basis entries get no gradient in either form
    assert lean[3][0, :7].abs().max() == 0


@pytest.mark.parametrize('low,size', [((2, 2), (64, 64)), ((3, 2), (90, 61)),
                                      ((1, 3), (7, 33)), ((4, 4), (1, 5)),
                                      ((15, 15), (480, 480))])
def test_feature_energy_equals_upsampling_then_summing_squares(low, size):
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 37, *low, generator=gen).relu() * 3
    want = F.interpolate(feats, size=size, mode='bilinear',
                         align_corners=True).pow(2).sum(1)
    got = SemanticConsistencyLoss().feature_energy(feats, size)
    assert got.shape == want.shape == (2, *size)
    assert rel_diff(got, want) <= RTOL


def test_semantic_loss_lean_keeps_float32_under_autocast():
    inputs = semantic_inputs(2, 5, 64, 64)
    oracle = SemanticConsistencyLoss(lean=False)(*inputs)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lean = SemanticConsistencyLoss(lean=True)(*inputs)
    assert lean.dtype == torch.float32
    assert rel_diff(lean, oracle) <= RTOL


def test_semantic_loss_rejects_a_basis_of_the_wrong_shape():
    parts, feats, mask, _ = semantic_inputs(1, 5, 32, 32)
    with pytest.raises(ValueError, match='basis must be'):
        SemanticConsistencyLoss()(parts, feats, mask, torch.ones(4, 512))


def part_loss(lean: bool, num_parts: int = 5) -> PartDecouplingLoss:
    torch.manual_seed(0)  # same basis for both forms
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random-weight extractor warning
        return PartDecouplingLoss(num_parts=num_parts, lean=lean)


@pytest.mark.parametrize('weighting', ['authors', 'paper'])
@pytest.mark.parametrize('b,p,size', [(2, 5, (96, 96)), (1, 3, (120, 90))])
def test_part_decoupling_loss_lean_equals_straightforward(
        weighting, b, p, size):
    h, w = size
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(b, p, h // 16, w // 16, generator=gen) * 3
    sal = torch.randn(b, 1, h // 16, w // 16, generator=gen) * 3
    gt = (torch.rand(b, 1, h, w, generator=gen) > 0.4).float()
    feats = torch.randn(b, 512, h // 32, w // 32, generator=gen).relu() * 2

    results = []
    for lean in (True, False):
        module = part_loss(lean, p)
        module.weighting = weighting
        lg, sl = logits.clone().requires_grad_(), sal.clone().requires_grad_()
        terms = module(lg, sl, gt, feats)
        sum(terms.values()).backward()
        results.append((terms, lg.grad, sl.grad, module.basis.grad))
    (lean_terms, *lean_grads), (oracle_terms, *oracle_grads) = results
    assert set(lean_terms) == set(oracle_terms) >= {'loss_sem', 'loss_geo'}
    for key in oracle_terms:
        assert rel_diff(lean_terms[key], oracle_terms[key]) <= RTOL, key
    for name, got, want in zip(('part logits', 'saliency logit', 'basis'),
                               lean_grads, oracle_grads):
        assert want.abs().max() > 0, name
        assert rel_diff(got, want) <= RTOL, name


def test_part_loss_computes_the_feature_energy_once_per_frame(
        monkeypatch):
    module = part_loss(lean=True, num_parts=3)
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(2, 512, 2, 2, generator=gen).relu()
    args = (torch.randn(2, 3, 4, 4, generator=gen),
            torch.randn(2, 1, 4, 4, generator=gen),
            (torch.rand(2, 1, 64, 64, generator=gen) > 0.5).float(), feats)
    before = module(*args)
    calls = []
    energy = module.sem.feature_energy
    monkeypatch.setattr(module.sem, 'feature_energy',
                        lambda *a: calls.append(a) or energy(*a))
    after = module(*args)
    # both maskings (ground truth, saliency) share one energy map
    assert len(calls) == 1
    for key in before:
        torch.testing.assert_close(after[key], before[key])


def test_lean_training_step_peak_memory_is_at_most_40_percent():
    """Peak tensor memory of a PDNet-R50 training step (p = 5, batch 2),
    measured by torch.profiler's allocation events (not by time)."""
    bench = import_tool('analysis_tools/benchmark.py')
    model = build_model(r50_model_cfg()).train()
    inputs, samples = bench.training_batch(2, 96, 1, 'cpu')

    def step():
        model.zero_grad(set_to_none=True)
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if 'loss' in k).backward()

    peaks = {}
    for lean in (True, False):
        model.part_loss.sem.lean = lean
        peaks[lean] = bench.peak_memory_mb(step, 'cpu')
    ratio = peaks[True] / peaks[False]
    print(f'peak lean {peaks[True]:.1f} MiB, straightforward '
          f'{peaks[False]:.1f} MiB, ratio {ratio:.3f}')
    assert ratio <= 0.4
