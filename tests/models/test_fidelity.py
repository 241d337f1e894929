"""The model-side points of the authors' training recipe
(docs/fidelity.md): side-head resolution, per-frame BatchNorm statistics,
soft targets and the test-time resize."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from tests.helpers import (build_model, demo_batch, r50_model_cfg,
                           tiny_model_cfg)


def _bn_state(module):
    return {n: b.clone() for n, b in module.named_buffers()
            if 'running' in n}


def test_side_heads_run_at_strides_4_4_8_16():
    """x5, x4, x3 are upsampled to the next finer level BEFORE their 3x3
    side heads, as the authors; the parameter count is unchanged."""
    model = build_model(r50_model_cfg())
    head = model.decode_head
    levels = [torch.randn(1, 128, s, s) for s in (120, 60, 30, 15)]
    sides = head.forward_side(levels)
    assert [tuple(s.shape[-2:]) for s in sides] == [(120, 120), (120, 120),
                                                    (60, 60), (30, 30)]
    # oracle: plain bilinear (align_corners=True) upsampling, then the conv
    for i, (side, conv) in enumerate(zip(sides, head.side_heads)):
        x = levels[i]
        if i > 0:
            x = F.interpolate(x, size=levels[i - 1].shape[-2:],
                              mode='bilinear', align_corners=True)
        torch.testing.assert_close(side, conv(x))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 25_641_415


def test_training_encodes_frame_sets_in_separate_calls():
    """Batch and running BN statistics per frame set, as two separate
    encoder calls (the authors); eval mode stacks the frames (same
    result with running statistics)."""
    model = build_model(tiny_model_cfg()).train()
    encoder = model.backbone
    reference = copy.deepcopy(encoder)
    target, ref = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64) * 3
    got = encoder.forward_frames([target, ref])
    want = [reference(target), reference(ref)]
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            torch.testing.assert_close(a, b)
    want_state = _bn_state(reference)
    for name, value in _bn_state(encoder).items():
        torch.testing.assert_close(value, want_state[name], msg=name)
    # the stacked call would mix the statistics: a different result
    mixed = copy.deepcopy(reference)
    stacked = mixed(torch.cat([target, ref]))[0][:2]
    assert not torch.allclose(stacked, want[0][0], atol=1e-3)
    # eval mode: one batched call, identical to separate calls
    encoder.eval()
    reference.eval()
    got = encoder.forward_frames([target, ref])
    for g, x in zip(got, (target, ref)):
        torch.testing.assert_close(g[0], reference(x)[0])


def test_video_step_bn_statistics_equal_separate_calls():
    """A full video training step updates the encoder's running
    statistics exactly as target and reference encoded one after the
    other (two updates)."""
    model = build_model(tiny_model_cfg()).train()
    reference = copy.deepcopy(model.backbone)
    data = model.data_preprocessor(demo_batch(), True)
    model.loss(data['inputs'], data['data_samples'])
    target, ref = data['inputs'].split(3, dim=1)
    reference(target)
    reference(ref)
    want = _bn_state(reference)
    for name, value in _bn_state(model.backbone).items():
        torch.testing.assert_close(value, want[name], msg=name)


def test_image_step_updates_bn_as_two_encoder_calls():
    """The authors' image step encodes the image as target and as its own
    reference: two running-statistics updates, the gradient of one call
    reused (same outputs); ours matches both."""
    model = build_model(tiny_model_cfg()).train()
    twice = copy.deepcopy(model)
    data = model.data_preprocessor(demo_batch(is_image=True), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    image = data['inputs'][:, :3]
    twice.backbone(image)
    twice.backbone(image)
    want = _bn_state(twice.backbone)
    for name, value in _bn_state(model.backbone).items():
        torch.testing.assert_close(value, want[name], msg=name)
    assert set(losses) == {'loss_seg', 'loss_side'}


def test_per_frame_norm_can_be_switched_off():
    cfg = tiny_model_cfg()
    cfg.backbone.per_frame_norm = False
    model = build_model(cfg).train()
    reference = copy.deepcopy(model.backbone)
    target, ref = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64) * 3
    got = model.backbone.forward_frames([target, ref])
    torch.testing.assert_close(got[0][0],
                               reference(torch.cat([target, ref]))[0][:2])


def test_soft_targets_reach_the_losses_unbinarised():
    """Fractional boundary targets (soft training masks) go into Lseg as
    they are: the loss differs from the one with binarised targets."""
    model = build_model(tiny_model_cfg(num_parts=2)).train()
    batch = demo_batch(n=2, size=64)
    for s in batch['data_samples']:
        soft = torch.rand(1, 64, 64)
        s.gt_sem_seg = PixelData(data=soft)
        s.gt_ref_seg = PixelData(data=torch.rand(1, 64, 64))
    data = model.data_preprocessor(batch, True)
    torch.manual_seed(1)
    soft = model.loss(data['inputs'], data['data_samples'])
    for s in data['data_samples']:
        s.gt_sem_seg.data = (s.gt_sem_seg.data >= 0.5).float()
    torch.manual_seed(1)
    hard = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(v) for v in soft.values())
    assert soft['loss_seg'].item() != pytest.approx(hard['loss_seg'].item())


def test_predict_resizes_stride4_logits_straight_to_the_original_size():
    """As the authors' test: the stride-4 logits are resized bilinearly
    to the original frame size in one step, then sigmoid."""
    model = build_model(tiny_model_cfg()).eval()
    batch = demo_batch(n=1, size=64)
    batch['data_samples'][0].set_metainfo(dict(ori_shape=(90, 70)))
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        sample = model.predict(data['inputs'], data['data_samples'])[0]
        low = model.forward_paired(data['inputs'], size=None)['seg_logit']
    assert low.shape[-2:] == (16, 16)
    want = F.interpolate(low, size=(90, 70), mode='bilinear',
                         align_corners=True).sigmoid()[0]
    torch.testing.assert_close(sample.seg_logits.data, want)
    torch.testing.assert_close(sample.pred_sem_seg.data,
                               (want > 0.5).long())


def test_semantic_extractor_weights_load_only_when_training(monkeypatch):
    """Building a model (for testing, export) never loads the frozen
    extractor's weights; its first forward does."""
    from mmseg_pdnet.models.losses import frozen_resnet18
    calls = []
    monkeypatch.setattr(frozen_resnet18, 'load_checkpoint',
                        lambda module, path, **kw: calls.append(path))
    cfg = tiny_model_cfg(num_parts=2)
    cfg.part_loss.semantic_extractor.checkpoint = 'torchvision://resnet18'
    model = build_model(cfg)
    assert calls == []
    model.part_loss.semantic_features(torch.randn(1, 3, 64, 64))
    model.part_loss.semantic_features(torch.randn(1, 3, 64, 64))
    assert calls == ['torchvision://resnet18']


def test_missing_torchvision_is_one_clear_error(monkeypatch):
    import builtins

    from mmengine.runner.checkpoint import CheckpointLoader

    from mmseg_pdnet.utils import PretrainedWeightsUnavailable
    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name == 'torchvision' or name.startswith('torchvision.'):
            raise ModuleNotFoundError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_torchvision)
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        CheckpointLoader.load_checkpoint('torchvision://resnet50')
    message = str(info.value)
    assert 'torchvision' in message
    assert 'model.backbone.backbone.init_cfg.checkpoint' in message
    assert 'model.part_loss.semantic_extractor.checkpoint' in message


def test_offline_url_is_one_clear_error(monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmseg_pdnet.utils import PretrainedWeightsUnavailable, pretrained

    def offline(*args, **kwargs):
        raise OSError('<urlopen error [Errno -3] name resolution>')

    monkeypatch.setattr(pretrained, 'load_from_http', offline)
    with pytest.raises(PretrainedWeightsUnavailable, match='local file'):
        CheckpointLoader.load_checkpoint('https://example.invalid/w.pth')


def _cbr(x, module, rows=slice(None)):
    """ConvModule (conv, eval-mode BN, ReLU) in plain torch.nn.functional;
    ``rows``: only these output channels (one part of a grouped layer,
    whose conv is then applied to that part's input channels alone)."""
    conv, bn = module.conv, module.norm
    x = F.conv2d(x, conv.weight[rows], None, conv.stride, conv.padding)
    x = F.batch_norm(x, bn.running_mean[rows], bn.running_var[rows],
                     bn.weight[rows], bn.bias[rows], False, 0., bn.eps)
    return F.relu(x)


def _conv(x, conv, rows=slice(None)):
    bias = None if conv.bias is None else conv.bias[rows]
    return F.conv2d(x, conv.weight[rows], bias, conv.stride, conv.padding)


def _ipda_oracle(neck, a_t, a_ref):
    """The authors' IPDA (docs/fidelity.md) written out, one part at a
    time: shared adapter, saliency, p part branches (part k's weights are
    channel block k of the batched layers) and ONE shared part head,
    R = S * D, per part an unscaled one-head cross-attention from target
    to reference, and M_t = sum_k (P_t^k + attn_k) * R_t^k."""
    c, d = neck.channels, neck.attention.attn_channels

    def decouple(a):
        x = F.interpolate(a, scale_factor=0.25, mode='bilinear',
                          align_corners=True)
        x = _cbr(_cbr(x, neck.adapter[0]), neck.adapter[1])
        parts = []
        for k in range(neck.num_parts):
            p = x
            for layer in neck.part_branches:
                p = _cbr(p, layer, slice(k * c, (k + 1) * c))
            parts.append(p)
        logits = torch.cat([_conv(p, neck.part_head) for p in parts], 1)
        return parts, _conv(x, neck.saliency), logits

    parts_t, sal_t, logits_t = decouple(a_t)
    parts_r, _, _ = decouple(a_ref)
    masks = sal_t.sigmoid() * logits_t.softmax(1)
    att = neck.attention
    motion = 0
    for k in range(neck.num_parts):
        qkv, out_rows = slice(k * d, (k + 1) * d), slice(k * c, (k + 1) * c)
        b, _, h, w = parts_t[k].shape
        q = _conv(parts_t[k], att.query, qkv).flatten(2)
        key = _conv(parts_r[k], att.key, qkv).flatten(2)
        value = _conv(parts_r[k], att.value, qkv).flatten(2)
        attn = torch.softmax(q.transpose(1, 2) @ key, dim=-1)  # no 1/sqrt(d)
        out = (value @ attn.transpose(1, 2)).reshape(b, -1, h, w)
        q_k = parts_t[k] + _cbr(out, att.out, out_rows)
        motion = motion + q_k * masks[:, k:k + 1]
    return motion, masks


def test_ipda_matches_a_plain_pytorch_oracle():
    model = build_model(tiny_model_cfg(num_parts=3)).eval()
    for m in model.neck.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    a_t, a_ref = torch.randn(2, 128, 32, 32), torch.randn(2, 128, 32, 32)
    with torch.no_grad():
        out = model.neck(a_t, [a_ref])
        motion, masks = _ipda_oracle(model.neck, a_t, a_ref)
    torch.testing.assert_close(out['motion'], motion, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out['part_masks'], masks, rtol=1e-5,
                               atol=1e-6)


def _lseg(logit, gt):
    """Lseg oracle: scalar-weighted BCE + 0.8 L1, logits upsampled first."""
    logit = F.interpolate(logit, size=gt.shape[-2:], mode='bilinear',
                          align_corners=True)
    weight = gt.numel() / ((gt >= 0.5).sum() + 1)
    bce = F.binary_cross_entropy_with_logits(logit, gt)
    return weight * bce + 0.8 * (logit.sigmoid() - gt).abs().mean()


def test_video_loss_weights_are_the_authors():
    """Lseg(final) + 0.8 [5 target side losses + part loss]
    + 0.64 [5 reference side losses + part loss], recomputed from the
    model's pieces with an independent Lseg."""
    model = build_model(tiny_model_cfg(num_parts=3)).train()
    batch = demo_batch(n=2, size=64)
    for s in batch['data_samples']:  # soft targets, as in training
        s.gt_sem_seg = PixelData(data=torch.rand(1, 64, 64))
        s.gt_ref_seg = PixelData(data=torch.rand(1, 64, 64))
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    gt = torch.stack([s.gt_sem_seg.data for s in data['data_samples']])
    gt_ref = torch.stack([s.gt_ref_seg.data for s in data['data_samples']])
    target, ref = data['inputs'].split(3, dim=1)
    with torch.no_grad():
        lv_t, lv_r = model.backbone(target), model.backbone(ref)
        ipda = model.neck(lv_t[0], [lv_r[0]])
        final = model.decode_head((lv_t[0], ipda['motion']))
        sides_t = model.decode_head.forward_side(lv_t) + [ipda['sal_logit']]
        sides_r = model.decode_head.forward_side(lv_r) + \
            [ipda['ref_sal_logits'][0]]
        part_t = model.part_loss(ipda['part_logits'], ipda['sal_logit'], gt,
                                 model.part_loss.semantic_features(target))
        part_r = model.part_loss(ipda['ref_part_logits'][0],
                                 ipda['ref_sal_logits'][0], gt_ref,
                                 model.part_loss.semantic_features(ref))
    expect = dict(
        loss_seg=_lseg(final, gt),
        loss_side=0.8 * sum(_lseg(s, gt) for s in sides_t),
        loss_ref_side=0.64 * sum(_lseg(s, gt_ref) for s in sides_r))
    for name, value in part_t.items():
        expect[name] = 0.8 * value
        expect[name.replace('loss_', 'loss_ref_')] = 0.64 * part_r[name]
    assert set(losses) == set(expect)
    for name, value in expect.items():
        torch.testing.assert_close(losses[name].detach(), value, rtol=1e-5,
                                   atol=1e-6, msg=name)
