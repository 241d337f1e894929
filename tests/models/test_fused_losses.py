"""The fused training losses against the term-by-term computation.

``PDNet.loss`` scores the six outputs of the target frame and the five
of each reference frame with one Lseg call (``PDSegLoss.forward_multi``),
the part losses of every (frame, masking) pair as one batch
(``PartDecouplingLoss.forward_frames``), every side head and the frozen
extractor once for all frames. :func:`term_by_term_losses` is the
previous code path, kept here as the oracle: one loss call per output,
frame and masking. Every logged term and every gradient must agree within
1e-5 (relative to the largest magnitude of that term or parameter's
gradient) in float32; measured: losses within 1e-7, gradients within
3e-6 (PDNet-R50, 64x64).
"""
import warnings

import pytest
import torch
from mmengine.structures import PixelData

from mmseg_pdnet.models.losses import PartDecouplingLoss, PDSegLoss
from mmseg_pdnet.models.utils import resize_bilinear
from mmseg_pdnet.utils.benchmarking.training import training_batch
from tests.helpers import (PAPER_CONFIG, build_model, demo_batch,
                           r50_model_cfg, tiny_model_cfg)

RTOL = 1e-5


def rel_diff(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference relative to the oracle's largest magnitude."""
    return ((got - want).abs().max() /
            want.abs().max().clamp_min(1e-30)).item()


def part_terms_of_one_frame(part_loss, part_logits, sal_logit, gt, feats):
    """The part losses of one frame, one loss call per masking (the
    authors' weighting)."""
    size = gt.shape[-2:]
    probs = resize_bilinear(part_logits, size).softmax(dim=1)
    saliency = resize_bilinear(sal_logit, size).sigmoid()
    energy = part_loss.sem.feature_energy(feats, size)
    terms = []
    for mask in (gt, saliency):  # eq. (5), eq. (1)
        parts = probs * mask
        terms.append(dict(
            geo=part_loss.geo(parts), area=part_loss.area(parts),
            sem=part_loss.sem(parts, feats, mask, part_loss.basis, energy)))
    by_gt, by_sal = terms
    return dict(loss_geo=by_gt['geo'] + by_sal['geo'] / 2,
                loss_sem=by_gt['sem'] + by_sal['sem'] / 2,
                loss_area=(by_gt['area'] + by_sal['area']) / 2,
                loss_ortho=part_loss.ortho(part_loss.basis))


def term_by_term_losses(model, inputs, samples) -> dict:
    """``PDNet.loss`` of a video or image batch, every term on its own."""
    seg = model.decode_head.loss_decode
    head = model.decode_head
    size = inputs.shape[-2:]
    frames = model.split_frames(inputs)
    gt = torch.stack([s.gt_sem_seg.data for s in samples]).float()
    is_image = samples[0].metainfo['is_image']
    levels = model.backbone.forward_frames(frames[:1] if is_image else
                                           frames)
    levels = levels * (1 + model.num_refs) if is_image else levels
    ipda = model.neck(levels[0][0], [lv[0] for lv in levels[1:]])
    final = resize_bilinear(head((levels[0][0], ipda['motion'])), size)
    sides = head.forward_side(levels[0]) + [ipda['sal_logit']]
    losses = dict(loss_seg=seg(final, gt),
                  loss_side=0.8 * sum(seg(s, gt) for s in sides))
    if is_image:
        return losses
    part_loss = model.part_loss
    for name, value in part_terms_of_one_frame(
            part_loss, ipda['part_logits'], ipda['sal_logit'], gt,
            part_loss.semantic_features(frames[0])).items():
        losses[name] = 0.8 * value
    gt_refs = torch.stack([s.gt_ref_seg.data for s in samples]).float()
    weight = 0.64 / model.num_refs
    for r in range(model.num_refs):
        gt_ref = gt_refs[:, r:r + 1]
        sides = head.forward_side(levels[1 + r]) + [ipda['ref_sal_logits'][r]]
        terms = dict(loss_side=sum(seg(s, gt_ref) for s in sides))
        terms.update(part_terms_of_one_frame(
            part_loss, ipda['ref_part_logits'][r], ipda['ref_sal_logits'][r],
            gt_ref, part_loss.semantic_features(frames[1 + r])))
        for name, value in terms.items():
            key = name.replace('loss_', 'loss_ref_')
            losses[key] = losses.get(key, 0) + weight * value
    return losses


def losses_and_grads(model, loss_fn, inputs, samples):
    model.zero_grad(set_to_none=True)
    losses = loss_fn(model, inputs, samples)
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def assert_step_equals_oracle(model, inputs, samples):
    fused = losses_and_grads(
        model, lambda m, x, s: m.loss(x, s), inputs, samples)
    oracle = losses_and_grads(model, term_by_term_losses, inputs, samples)
    (losses, grads), (want_losses, want_grads) = fused, oracle
    assert list(losses) == list(want_losses)
    for name, want in want_losses.items():
        assert rel_diff(losses[name], want) <= RTOL, (name, losses[name],
                                                      want)
    assert set(grads) == set(want_grads)
    scale = max(g.abs().max() for g in want_grads.values())
    for name, want in want_grads.items():
        if want.abs().max() <= 1e-6 * scale:
            # a gradient that is 0 but for rounding: the part head's bias
            # (a shift shared by all parts cancels in their softmax)
            assert grads[name].abs().max() <= 1e-6 * scale, name
            continue
        assert rel_diff(grads[name], want) <= RTOL, name
    return losses


@pytest.fixture(scope='module')
def r50():
    """PDNet-R50 of the paper config (p = 5), random init."""
    return build_model(r50_model_cfg(PAPER_CONFIG)).train()


def test_paper_model_step_equals_term_by_term(r50):
    """Batch 2, p = 5, the benchmark's fixed batch at 64x64."""
    inputs, samples = training_batch(2, 64, 1, 'cpu')
    losses = assert_step_equals_oracle(r50, inputs, samples)
    assert len(losses) == 11 and all(v > 0 for v in losses.values())


def test_two_references_and_soft_masks_equal_term_by_term():
    model = build_model(tiny_model_cfg(num_parts=3, num_refs=2)).train()
    batch = demo_batch(n=2, size=64, num_refs=2)
    gen = torch.Generator().manual_seed(0)
    for s in batch['data_samples']:  # soft targets, as in training
        s.gt_sem_seg = PixelData(data=torch.rand(1, 64, 64, generator=gen))
        s.gt_ref_seg = PixelData(data=torch.rand(2, 64, 64, generator=gen))
    data = model.data_preprocessor(batch, True)
    assert_step_equals_oracle(model, data['inputs'], data['data_samples'])


def test_image_step_equals_term_by_term():
    model = build_model(tiny_model_cfg(num_parts=3)).train()
    data = model.data_preprocessor(demo_batch(n=2, size=64, is_image=True),
                                   True)
    losses = assert_step_equals_oracle(model, data['inputs'],
                                       data['data_samples'])
    assert set(losses) == {'loss_seg', 'loss_side'}


def test_forward_multi_equals_one_call_per_output():
    """Outputs of three sizes, in an order that is not grouped by size,
    against two masks: each entry equals its own Lseg call."""
    gen = torch.Generator().manual_seed(0)
    loss = PDSegLoss(l1_weight=0.8, loss_weight=1.5)
    targets = [(torch.rand(2, 1, 32, 32, generator=gen) > t).float()
               for t in (0.3, 0.7)]
    sizes = [8, 32, 16, 8, 32]
    logits = [torch.randn(2, 1, s, s, generator=gen, requires_grad=True)
              for s in sizes]
    index = [0, 1, 1, 0, 0]
    got = loss.forward_multi(logits, targets, index)
    want = torch.stack([loss(x, targets[t]) for x, t in zip(logits, index)])
    assert rel_diff(got, want) <= RTOL
    weights = torch.arange(1., 6.)
    got_grads = torch.autograd.grad((got * weights).sum(), logits)
    want_grads = torch.autograd.grad((want * weights).sum(), logits)
    for g, w in zip(got_grads, want_grads):
        assert rel_diff(g, w) <= RTOL
    with pytest.raises(ValueError, match='5 logits but 4 target indices'):
        loss.forward_multi(logits, targets, index[:4])


def test_part_loss_of_frames_equals_one_call_per_frame():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random-weight extractor warning
        # 16-channel features given directly: the extractor is not run
        part_loss = PartDecouplingLoss(num_parts=4, feat_channels=16)
    gen = torch.Generator().manual_seed(1)
    frames = 3
    logits = [torch.randn(2, 4, 6, 5, generator=gen) * 3
              for _ in range(frames)]
    sal = [torch.randn(2, 1, 6, 5, generator=gen) * 3
           for _ in range(frames)]
    gts = [torch.rand(2, 1, 48, 40, generator=gen) for _ in range(frames)]
    feats = torch.randn(frames * 2, 16, 2, 2, generator=gen).relu()
    for weighting in ('authors', 'paper'):
        part_loss.weighting = weighting
        got = part_loss.forward_frames(logits, sal, gts, feats)
        for f in range(frames):
            want = part_loss(logits[f], sal[f], gts[f],
                             feats[2 * f:2 * (f + 1)])
            assert set(got) == set(want) == {
                'loss_geo', 'loss_sem', 'loss_area', 'loss_ortho'}
            for name, value in want.items():
                assert rel_diff(got[name][f], value) <= RTOL, (weighting,
                                                                name)


def test_side_heads_of_all_frames_in_one_pass():
    model = build_model(tiny_model_cfg())
    head = model.decode_head
    gen = torch.Generator().manual_seed(0)
    frames = [[torch.randn(2, 128, s, s, generator=gen) for s in
               (16, 8, 4, 2)] for _ in range(3)]
    got = head.forward_side_frames(frames)
    for got_frame, levels in zip(got, frames):
        for g, w in zip(got_frame, head.forward_side(levels)):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
