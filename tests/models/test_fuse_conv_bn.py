"""fuse_conv_bn: BN folded into the preceding conv keeps the outputs."""
import copy

import pytest
import torch
from mmcv.cnn import ConvModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg_pdnet.models.utils import fuse_conv_bn
from tests.helpers import (MODEL_BASE, TINY_OPTIONS, build_model, demo_batch,
                           tiny_model_cfg)


def _calibrate_bn(model, *inputs):
    """Non-trivial BN parameters and the running statistics of real
    activations (a cumulative average over train-mode calls), so that the
    folded scales differ from 1 while the activations keep their scale,
    as in a trained model; then eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
                m.reset_running_stats()
                m.momentum = None
        model.train()
        for x in inputs:
            model(*x)
    return model.eval()


def _bn_count(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def _pdnet_outputs(model, x):
    with torch.no_grad():
        paired = model.forward_paired(x)
        streaming = model.forward_target(x[:, :3],
                                         model.encode_reference(x[:, 3:]))
    return [paired['seg_logit'].sigmoid(), paired['parts'],
            streaming['seg_logit'].sigmoid(), streaming['parts']]


def test_fused_pdnet_gives_the_same_outputs():
    """Exact in float64 (the folding is algebra, every module of the
    backbone, decoder, IPDA and head included); in float32 the folded
    model is as close to the float64 result as the unfolded one.

    This random-weight model turns float32 rounding (1e-7) into 5e-5 of
    probability (BN statistics of 64x64 frames, unscaled attention): the
    float32 models, folded or not, differ by that much from float64.
    """
    model = build_model(tiny_model_cfg(num_parts=5))
    x = model.data_preprocessor(demo_batch(n=2, size=64), False)['inputs']
    _calibrate_bn(model, (x, None, 'tensor'), (x.flip(-1), None, 'tensor'))
    exact = _pdnet_outputs(copy.deepcopy(model).double(), x.double())
    fused64 = fuse_conv_bn(copy.deepcopy(model).double())
    assert _bn_count(model) > 0 and _bn_count(fused64) == 0
    for got, want in zip(_pdnet_outputs(fused64, x.double()), exact):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)

    unfused32 = _pdnet_outputs(model, x)
    assert fuse_conv_bn(model) is model
    for fused, unfused, want in zip(_pdnet_outputs(model, x), unfused32,
                                    exact):
        fused_err = (fused.double() - want).abs().max()
        unfused_err = (unfused.double() - want).abs().max()
        assert fused_err <= 2 * unfused_err + 1e-6, (fused_err, unfused_err)
        torch.testing.assert_close(fused, unfused, rtol=0, atol=5e-4)


def test_fused_mmseg_baseline_gives_the_same_outputs(load_tool):
    """MMSeg ResNet (blocks, stem, shortcut), FPN and FCN head."""
    bench = load_tool('analysis_tools/benchmark.py')
    cfg = bench.load_pdnet_config(
        MODEL_BASE, {f'model.{k}': v for k, v in TINY_OPTIONS.items()})
    model = bench.build_model(bench.baseline_config(cfg.model), 'cpu')
    x = torch.randn(1, 3, 64, 64)
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64),
                  pad_shape=(64, 64))]
    _calibrate_bn(model, (torch.randn(2, 3, 64, 64), None, 'tensor'))
    with torch.no_grad():
        want = model.encode_decode(x, metas)
        fuse_conv_bn(model)
        got = model.encode_decode(x, metas)
    assert _bn_count(model) == 0
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_only_conv_then_bn_is_folded():
    """A pre-norm ConvModule (BN before its conv) is left as it is, so
    is a BN of a module whose order is unknown."""
    pre_norm = ConvModule(8, 4, 3, padding=1, norm_cfg=dict(type='BN'),
                          order=('norm', 'conv', 'act'))
    grouped = ConvModule(8, 8, 3, padding=1, groups=4,
                         norm_cfg=dict(type='BN'))

    class Unknown(nn.Module):  # conv registered before a BN it never feeds

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 1)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.conv(self.bn(x))

    model = nn.Sequential(grouped, pre_norm, Unknown())
    model[2].conv = nn.Conv2d(4, 8, 1)
    model[2].bn = nn.BatchNorm2d(4)
    x = torch.randn(2, 8, 9, 9)
    _calibrate_bn(model, (x * 2 + 1, ))
    with torch.no_grad():
        want = model(x)
        fuse_conv_bn(model)
        got = model(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert isinstance(grouped.norm, nn.Identity) and not grouped.with_norm
    assert grouped.conv.bias is not None
    assert isinstance(pre_norm.norm, nn.BatchNorm2d)
    assert isinstance(model[2].bn, nn.BatchNorm2d)


def test_training_mode_bn_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    with pytest.raises(ValueError, match='eval-mode'):
        fuse_conv_bn(model)
