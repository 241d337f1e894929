# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Fold eval-mode BatchNorm into the preceding convolution (inference).

In eval mode a BN layer is the per-channel affine map
``y = (x - mean) / sqrt(var + eps) * gamma + beta``; after a convolution
it can be folded into the convolution's weight and bias, which removes one
kernel (and one pass over the feature map) per conv + BN pair.

Only pairs whose order is KNOWN are folded, never pairs guessed from the
order in which the children were registered (what
``mmcv.cnn.fuse_conv_bn`` does, which would also fold a pre-norm
``ConvModule(order=('norm', 'conv', 'act'))`` whose BN runs BEFORE its
conv, into the wrong side):

* :class:`mmcv.cnn.ConvModule` with ``conv`` directly before ``norm``;
* consecutive ``Conv2d``, ``BatchNorm`` children of an ``nn.Sequential``
  (e.g. the ResNet shortcut ``downsample``, the deep stem);
* MMSeg's ResNet blocks and stem (``BasicBlock``, ``Bottleneck``,
  ``ResNet``), whose ``forward`` applies ``norm{i}`` right after
  ``conv{i}``.

Grouped convolutions are folded like any other: BN acts per output
channel, and the weight's first axis is the output channel.
"""
from typing import Iterator, Tuple

import torch
from mmcv.cnn import ConvModule
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
@torch.no_grad()  # the folded weights need no autograd history
def fold_bn_into_conv(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Fold an eval-mode BN into the conv that feeds it, in place.

    ``conv.weight`` becomes ``w * s`` and ``conv.bias`` ``(b - mean) * s +
    beta`` with ``s = gamma / sqrt(var + eps)`` per output channel. The
    arithmetic runs in float64 and is cast back, so the folded layer
    differs from conv + BN by the rounding of one float32 multiply-add.

    Args:
        conv (nn.Conv2d): Convolution with ``out_channels`` outputs
            (grouped or not).
        bn (_BatchNorm): BatchNorm over those ``out_channels`` channels,
            with running statistics.

    Raises:
        ValueError: ``bn`` is in training mode or has no running
            statistics (batch statistics cannot be folded).
    """
    if bn.training or bn.running_mean is None:
        raise ValueError('only an eval-mode BatchNorm with running '
                         'statistics can be folded into a conv: call '
                         'model.eval() first')
    weight = conv.weight
    mean, var = bn.running_mean.double(), bn.running_var.double()
    scale = torch.rsqrt(var + bn.eps)
    shift = -mean * scale
    if bn.affine:
        scale = scale * bn.weight.double()
        shift = shift * bn.weight.double() + bn.bias.double()
    bias = conv.bias.double() * scale if conv.bias is not None else 0
    fused_w = weight.double() * scale.reshape(-1, *[1] * (weight.dim() - 1))
    conv.weight = nn.Parameter(fused_w.to(weight.dtype),
                               requires_grad=weight.requires_grad)
    conv.bias = nn.Parameter((bias + shift).to(weight.dtype),
                             requires_grad=weight.requires_grad)


def _is_bn(module) -> bool:
    return isinstance(module, _BatchNorm)


def _conv_bn_pairs(module: nn.Module) -> Iterator[Tuple[str, str]]:
    """Child names ``(conv, bn)`` of ``module`` whose forward applies the
    BN directly to the conv's output (see the module doc)."""
    children = dict(module.named_children())
    if isinstance(module, ConvModule):
        order = list(module.order)
        if module.with_norm and \
                order.index('norm') == order.index('conv') + 1:
            yield 'conv', module.norm_name
    elif isinstance(module, nn.Sequential):
        names = list(children)
        for first, second in zip(names, names[1:]):
            if isinstance(children[first], nn.Conv2d) and \
                    _is_bn(children[second]):
                yield first, second
    elif isinstance(module, (BasicBlock, Bottleneck, ResNet)):
        for i in (1, 2, 3):
            norm_name = getattr(module, f'norm{i}_name', None)
            if f'conv{i}' in children and norm_name in children:
                yield f'conv{i}', norm_name


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BN of ``model`` into its preceding conv.

    For inference only (call after ``model.eval()`` and after loading the
    weights): the folded BN layers are replaced by ``nn.Identity`` (their
    buffers leave the state dict) and the convs get a bias. Outputs stay
    equal to the unfused model's up to float32 rounding.

    Args:
        model (nn.Module): An eval-mode model, changed in place.

    Returns:
        nn.Module: ``model``.

    Raises:
        ValueError: a BN to fold is in training mode.
    """
    for module in list(model.modules()):
        for conv_name, bn_name in list(_conv_bn_pairs(module)):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if not (isinstance(conv, nn.Conv2d) and _is_bn(bn)):
                continue
            fold_bn_into_conv(conv, bn)
            setattr(module, bn_name, nn.Identity())
            if isinstance(module, ConvModule):
                module.with_norm = False  # skip the Identity call as well
    return model
