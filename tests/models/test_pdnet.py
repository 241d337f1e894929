import pytest
import torch
from mmseg.structures import SegDataSample

from tests.helpers import (build_model, demo_batch, r50_model_cfg,
                           tiny_model_cfg)


def test_r50_parameter_count_matches_authors_model():
    model = build_model(r50_model_cfg())
    trainable = {n: p.numel() for n, p in model.named_parameters()
                 if p.requires_grad}
    basis = trainable.pop('part_loss.basis')
    assert basis == 5 * 512
    assert sum(trainable.values()) == 25_638_855
    assert sum(trainable.values()) + basis == 25_641_415
    assert not any('extractor' in k for k in model.state_dict())


def test_r50_shapes_at_480():
    model = build_model(r50_model_cfg()).eval()
    x = torch.randn(1, 6, 480, 480)
    with torch.no_grad():
        levels = model.extract_feat(x)
        assert [tuple(t.shape[-2:]) for t in levels[0]] == \
            [(120, 120), (60, 60), (30, 30), (15, 15)]
        assert all(t.shape[1] == 128 for t in levels[0])
        ipda = model.neck(levels[0][0], [levels[1][0]])
        assert ipda['motion'].shape == (1, 64, 30, 30)
        assert ipda['part_masks'].shape == (1, 5, 30, 30)
        assert model(x, mode='tensor').shape == (1, 1, 480, 480)


def test_gradients_reach_every_part_and_frames_share_weights():
    model = build_model(tiny_model_cfg()).train()
    data = model.data_preprocessor(demo_batch(), True)
    losses = model(**data, mode='loss')
    assert {'loss_seg', 'loss_side', 'loss_geo', 'loss_sem', 'loss_area',
            'loss_ortho', 'loss_ref_side', 'loss_ref_geo'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ['backbone.backbone.conv1.weight',
                 'backbone.decoder.laterals.0.conv.weight',
                 'neck.adapter.0.conv.weight',
                 'neck.part_head.weight',
                 'part_loss.basis', 'decode_head.fusion.gate.weight',
                 'decode_head.conv_seg.weight',
                 'decode_head.side_heads.3.weight']:
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    # the batched part layers: every part's block of output channels
    p = model.neck.num_parts
    for name in ['neck.part_branches.0.conv.weight',
                 'neck.part_branches.1.conv.weight',
                 'neck.part_branches.2.bn.weight',
                 'neck.attention.key.weight', 'neck.attention.query.weight',
                 'neck.attention.out.conv.weight']:
        per_part = grads[name].reshape(p, -1).abs().sum(1)
        assert (per_part > 0).all(), (name, per_part)

    # a loss on the reference frame alone trains the very same encoder
    model.zero_grad()
    frames = model.split_frames(data['inputs'])
    ref_levels = model.backbone.forward_frames(frames[1:])[0]
    ref_levels[0].sum().backward()
    assert model.backbone.backbone.conv1.weight.grad.abs().sum() > 0
    # and, in eval mode, the batched Siamese pass equals separate passes
    model.eval()
    with torch.no_grad():
        both = model.backbone.forward_frames(frames)
        alone = model.backbone(frames[1])
    torch.testing.assert_close(both[1][0], alone[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('num_parts', [1, 3, 5])
def test_num_parts(num_parts):
    model = build_model(tiny_model_cfg(num_parts=num_parts)).train()
    data = model.data_preprocessor(demo_batch(size=48), True)
    losses = model(**data, mode='loss')
    has_part_losses = 'loss_geo' in losses
    assert has_part_losses == (num_parts > 1)
    assert model.neck.num_parts == num_parts


def test_two_references():
    model = build_model(tiny_model_cfg(num_refs=2)).train()
    data = model.data_preprocessor(demo_batch(size=64, num_refs=2), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(sum(losses.values()))
    model.eval()
    x = data['inputs']
    with torch.no_grad():
        paired = model(x, mode='tensor')
        cache = model.encode_reference([x[:, 3:6], x[:, 6:9]])
        # the two references' positions are concatenated: N = 2 * 4 * 4
        assert cache['key'].shape[-1] == 2 * 4 * 4
        cached = model.forward_target(x[:, :3], cache)['seg_logit']
    assert (paired.sigmoid() - cached.sigmoid()).abs().max() <= 1e-5


def test_without_ipda_ablation():
    model = build_model(tiny_model_cfg(use_ipda=False)).train()
    assert not hasattr(model, 'neck') and model.part_loss is None
    data = model.data_preprocessor(demo_batch(size=48), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_seg', 'loss_side', 'loss_ref_side'}


def test_image_batch_has_no_part_loss_and_needs_no_ref_mask():
    model = build_model(tiny_model_cfg()).train()
    batch = demo_batch(size=48, is_image=True)
    for s in batch['data_samples']:
        del s.gt_ref_seg
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert set(losses) == {'loss_seg', 'loss_side'}


def test_mixed_image_and_video_batch_is_refused():
    model = build_model(tiny_model_cfg()).train()
    batch = demo_batch(size=48)
    batch['data_samples'][0].set_metainfo(dict(is_image=True))
    with pytest.raises(ValueError, match='only video samples or only image'):
        model(**model.data_preprocessor(batch, True), mode='loss')


def test_predict_needs_no_ground_truth_and_restores_size():
    model = build_model(tiny_model_cfg()).eval()
    batch = demo_batch(n=1, size=64)
    sample = SegDataSample()
    sample.set_metainfo(dict(img_shape=(64, 64), ori_shape=(90, 70)))
    batch['data_samples'] = [sample]
    with torch.no_grad():
        out = model.test_step(batch)[0]
    prob = out.seg_logits.data
    assert prob.shape == (1, 90, 70) and 0 <= prob.min() <= prob.max() <= 1
    assert out.pred_sem_seg.data.dtype == torch.long
    assert torch.equal(out.pred_sem_seg.data, (prob > 0.5).long())
    assert out.pred_parts.data.shape == (3, 4, 4)


def test_cached_reference_matches_paired_forward():
    model = build_model(tiny_model_cfg(num_parts=5)).eval()
    x = model.data_preprocessor(demo_batch(n=2, size=96), False)['inputs']
    with torch.no_grad():
        paired = model.forward_paired(x)
        cache = model.encode_reference(x[:, 3:])
        cached = model.forward_target(x[:, :3], cache)
    assert (paired['seg_logit'].sigmoid() -
            cached['seg_logit'].sigmoid()).abs().max() <= 1e-5
    torch.testing.assert_close(paired['parts'], cached['parts'])


def test_forward_target_gives_stride4_logits_for_a_direct_resize():
    model = build_model(tiny_model_cfg()).eval()
    x = model.data_preprocessor(demo_batch(n=1, size=64), False)['inputs']
    with torch.no_grad():
        cache = model.encode_reference(x[:, 3:])
        full = model.forward_target(x[:, :3], cache)['seg_logit']
        s4 = model.forward_target(x[:, :3], cache, size=None)['seg_logit']
        paired = model.forward_paired(x, size=None)['seg_logit']
    assert full.shape[-2:] == (64, 64) and s4.shape[-2:] == (16, 16)
    assert (s4 - paired).abs().max() <= 1e-4


def test_threshold_has_one_source():
    """The mask threshold is decode_head.threshold; a test_cfg threshold
    (a second source) is refused with a pointer."""
    cfg = tiny_model_cfg()
    cfg.decode_head.threshold = 0.3
    assert build_model(cfg).decode_head.threshold == 0.3
    cfg.test_cfg = dict(threshold=0.5)
    with pytest.raises(ValueError, match='model.decode_head.threshold'):
        build_model(cfg)
    cfg.test_cfg = dict(mode='slide')
    with pytest.raises(ValueError, match='whole frames only'):
        build_model(cfg)


def test_wrong_number_of_channels_is_a_clear_error():
    model = build_model(tiny_model_cfg()).eval()
    with pytest.raises(ValueError, match='expects 6 input channels'):
        model(torch.randn(1, 3, 32, 32), mode='tensor')
    batch = demo_batch(n=1, size=32, num_refs=2)
    with pytest.raises(ValueError, match='expected 6 input channels'):
        model.data_preprocessor(batch, False)


def test_bf16_autocast_training_step_stays_close_to_fp32():
    """The AMP path (AmpOptimWrapper runs the loss under autocast) keeps the
    losses and gradients of fp32, and every loss computes in float32.

    BN uses its running statistics here: in training mode, BN over two
    random-init 64x64 frames amplifies bf16 rounding far beyond what our
    modules do (a plain MMSeg ResNet-18 alone gives a gradient cosine of
    0.95 there), which would hide the comparison this test is about.
    """
    model = build_model(tiny_model_cfg(num_parts=5)).eval()
    data = model.data_preprocessor(demo_batch(n=2, size=64), True)

    def step(amp):
        model.zero_grad()
        conv_dtypes = []
        handle = model.backbone.backbone.conv1.register_forward_hook(
            lambda m, i, o: conv_dtypes.append(o.dtype))
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            losses = model(**data, mode='loss')
        handle.remove()
        sum(losses.values()).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()
                           if p.grad is not None])
        return losses, grads, conv_dtypes

    fp32, fp32_grads, fp32_dtypes = step(amp=False)
    amp, amp_grads, amp_dtypes = step(amp=True)
    # one batched Siamese pass over target and reference frames
    assert fp32_dtypes == [torch.float32]
    assert amp_dtypes == [torch.bfloat16]  # autocast really ran
    assert set(amp) == set(fp32)
    for name, value in amp.items():
        assert value.dtype == torch.float32, name
        torch.testing.assert_close(value, fp32[name], rtol=1e-2, atol=1e-4,
                                   msg=name)
    assert torch.isfinite(amp_grads).all()
    cosine = torch.nn.functional.cosine_similarity(amp_grads, fp32_grads,
                                                   dim=0)
    assert cosine > 0.99, cosine.item()
