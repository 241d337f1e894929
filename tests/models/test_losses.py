import math

import pytest
import torch

from mmseg_pdnet.models.losses import (AreaVarianceLoss,
                                       GeometricConcentrationLoss,
                                       OrthonormalLoss, PartDecouplingLoss,
                                       PDSegLoss, SemanticConsistencyLoss,
                                       SigmoidL1Loss, WeightedBCELoss)


def test_weighted_bce_hand_value():
    logit = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1., 0.], [0., 0.]]]])
    # BCE of logit 0 is ln 2 everywhere; w = 4 pixels / (1 fg + 1) = 2
    assert WeightedBCELoss()(logit, target).item() == pytest.approx(
        2 * math.log(2), rel=1e-6)


def test_sigmoid_l1_hand_value():
    logit = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1., 0.], [0., 0.]]]])
    assert SigmoidL1Loss()(logit, target).item() == pytest.approx(0.5)


def test_pd_seg_loss_combines_and_upsamples():
    target = torch.tensor([[[[1., 0.], [0., 0.]]]])
    loss = PDSegLoss(l1_weight=0.8)(torch.zeros(1, 1, 1, 1), target)
    assert loss.item() == pytest.approx(2 * math.log(2) + 0.8 * 0.5, rel=1e-6)


def test_geometric_concentration_hand_value():
    parts = torch.zeros(1, 2, 2, 2)
    parts[0, 0, 0, 0] = parts[0, 0, 0, 1] = 1  # x in {-1, 0}: variance 1/4
    parts[0, 1, 1, 1] = 1  # a single pixel: no spread
    loss = GeometricConcentrationLoss()(parts)
    assert loss.item() == pytest.approx(0.25, rel=1e-5)


def test_orthonormal_hand_value():
    assert OrthonormalLoss()(torch.tensor([[1., 0.], [2., 0.]])).item() == \
        pytest.approx(2.0)
    assert OrthonormalLoss()(torch.eye(3) * 5).item() == pytest.approx(0.0)


def test_orthonormal_uses_the_non_negative_basis():
    """As the authors: relu(w), the basis the semantic loss uses. Rows
    [1, -1] and [1, 1] are orthogonal as raw w (loss 0) but relu makes
    them [1, 0] and [1, 1]: cosine 1/sqrt(2), loss 2 * 1/2 = 1."""
    w = torch.tensor([[1., -1.], [1., 1.]], requires_grad=True)
    loss = OrthonormalLoss()(w)
    assert loss.item() == pytest.approx(1.0, rel=1e-6)
    loss.backward()
    assert w.grad[0, 1] == 0  # no gradient through the clipped entry


def test_area_variance_hand_value():
    parts = torch.tensor([[[[1., 2.]], [[1., 0.]]]])  # areas 3 and 1
    # [3, 1] / sqrt(10) -> unbiased variance (2 / sqrt(10))^2 / 2 = 0.2
    assert AreaVarianceLoss()(parts).item() == pytest.approx(0.2, rel=1e-6)
    with pytest.raises(ValueError, match='at least 2 parts'):
        AreaVarianceLoss()(parts[:, :1])


@pytest.mark.parametrize('lean', [False, True])
def test_semantic_consistency_hand_value(lean):
    parts = torch.ones(1, 1, 1, 1)
    feats = torch.tensor([1., 2.]).view(1, 2, 1, 1)
    basis = torch.tensor([[1., 1.]])
    loss = SemanticConsistencyLoss(lean=lean)(parts, feats, torch.ones(
        1, 1, 1, 1), basis)
    # reconstruction [1, 1] vs features [1, 2]: ((0)^2 + (1)^2) / 2
    assert loss.item() == pytest.approx(0.5, rel=1e-6)


def test_semantic_consistency_lean_matches_oracle():
    parts = torch.rand(2, 3, 17, 23).softmax(1)
    feats = torch.randn(2, 8, 3, 4)
    mask = torch.rand(2, 1, 17, 23)
    basis = torch.randn(3, 8)
    lean = SemanticConsistencyLoss(lean=True)(parts, feats, mask, basis)
    ref = SemanticConsistencyLoss(lean=False)(parts, feats, mask, basis)
    assert lean.item() == pytest.approx(ref.item(), rel=1e-5)


def test_part_decoupling_loss_terms_and_switches():
    common = dict(num_parts=3, feat_channels=8, semantic_extractor=None)
    loss = PartDecouplingLoss(**common, loss_sem_weight=0)  # geo + area
    out = loss(torch.randn(2, 3, 4, 4), torch.randn(2, 1, 4, 4),
               (torch.rand(2, 1, 16, 16) > 0.5).float(), None)
    assert set(out) == {'loss_geo', 'loss_area'}
    geo_only = PartDecouplingLoss(
        **common, loss_sem_weight=0, loss_area_weight=0)
    assert set(geo_only(torch.randn(1, 3, 4, 4), torch.randn(1, 1, 4, 4),
                        torch.ones(1, 1, 8, 8), None)) == {'loss_geo'}
    with pytest.raises(ValueError, match='num_parts >= 2'):
        PartDecouplingLoss(num_parts=1)
    with pytest.raises(ValueError, match='semantic_extractor'):
        PartDecouplingLoss(num_parts=3, semantic_extractor=None)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_losses_compute_in_float32_from_amp_outputs(dtype):
    """Under AMP the network's outputs are fp16/bf16. At 480x480 a part's
    area (here up to ~180,000) overflows fp16 and bf16 cannot tell the
    concentration loss's coordinates apart, so every loss computes in
    float32: the same rounded inputs give the float32 result."""
    parts = torch.randn(2, 5, 480, 480).softmax(dim=1)
    parts[:, 0] += 0.5  # one large part
    parts = parts.to(dtype)
    for loss in (GeometricConcentrationLoss(), AreaVarianceLoss()):
        out = loss(parts)
        assert out.dtype == torch.float32 and torch.isfinite(out)
        assert out == loss(parts.float())
    part_logits = torch.randn(2, 5, 30, 30).to(dtype)
    sal_logit = torch.randn(2, 1, 30, 30).to(dtype)
    gt = (torch.rand(2, 1, 480, 480) > 0.3).float()
    part_loss = PartDecouplingLoss(num_parts=5, feat_channels=8,
                                   semantic_extractor=None,
                                   loss_sem_weight=0)
    out = part_loss(part_logits, sal_logit, gt, None)
    ref = part_loss(part_logits.float(), sal_logit.float(), gt, None)
    for key in ('loss_geo', 'loss_area'):
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key])
        assert out[key] == ref[key], key
    seg = PDSegLoss()(sal_logit, gt)
    assert seg.dtype == torch.float32
    assert seg == PDSegLoss()(sal_logit.float(), gt)


def test_part_decoupling_loss_authors_vs_paper_weighting():
    torch.manual_seed(1)
    args = (torch.randn(1, 3, 4, 4), torch.randn(1, 1, 4, 4),
            (torch.rand(1, 1, 8, 8) > 0.5).float(), None)
    common = dict(num_parts=3, loss_sem_weight=0, semantic_extractor=None)
    authors = PartDecouplingLoss(**common)(*args)
    paper = PartDecouplingLoss(**common, weighting='paper')(*args)
    # authors: geo(PG) + geo(PS)/2; paper: (geo(PG) + geo(PS))/2
    geo = GeometricConcentrationLoss()
    probs = torch.nn.functional.interpolate(
        args[0], size=(8, 8), mode='bilinear', align_corners=True).softmax(1)
    sal = torch.nn.functional.interpolate(
        args[1], size=(8, 8), mode='bilinear', align_corners=True).sigmoid()
    g_gt, g_sal = geo(probs * args[2]), geo(probs * sal)
    assert authors['loss_geo'].item() == pytest.approx(
        (g_gt + g_sal / 2).item(), rel=1e-5)
    assert paper['loss_geo'].item() == pytest.approx(
        ((g_gt + g_sal) / 2).item(), rel=1e-5)
    assert paper['loss_area'].item() == pytest.approx(
        authors['loss_area'].item(), rel=1e-6)


def test_frozen_extractor_warns_and_stays_frozen():
    with pytest.warns(UserWarning, match='RANDOM weights'):
        loss = PartDecouplingLoss(num_parts=2)
    extractor = loss._extractor
    assert all(not p.requires_grad for p in extractor.parameters())
    loss.train()
    extractor.train()
    assert not extractor.training
    # outside the module tree: not trainable, not saved
    assert not any('extractor' in k for k in loss.state_dict())
    assert [n for n, _ in loss.named_parameters()] == ['basis']
    feats = loss.semantic_features(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 512, 2, 2) and not feats.requires_grad


def test_no_basis_without_the_semantic_term():
    loss = PartDecouplingLoss(num_parts=3, loss_sem_weight=0,
                              semantic_extractor=None)
    assert loss.basis is None and not list(loss.parameters())
