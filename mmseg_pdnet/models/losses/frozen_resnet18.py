# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import warnings
from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint
from mmseg.models.backbones import ResNet
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class FrozenResNet18Features(nn.Module):
    """Frozen ImageNet ResNet-18 layer4 features for Lsem (paper sec. 4.4).

    Never trained (no gradient, BN always in eval mode) and never part of
    the inference graph: :class:`PartDecouplingLoss` keeps it outside the
    model's parameters and state dict. The weights are loaded at the first
    forward (a training step), so building a model for testing or export
    never fetches them.

    Args:
        checkpoint (str, optional): torchvision ResNet-18 weights: a local
            path, an URL or ``'torchvision://resnet18'``. ``None`` runs with
            random weights, which makes the semantic loss meaningless: a
            warning says so.
    """

    def __init__(self, checkpoint: Optional[str] = None):
        super().__init__()
        self.resnet = ResNet(depth=18, out_indices=(3, ), style='pytorch',
                             norm_eval=True)
        if checkpoint is None:
            msg = ('FrozenResNet18Features runs with RANDOM weights (no '
                   'checkpoint given): the semantic consistency loss will '
                   'not carry ImageNet semantics. Set part_loss.'
                   'semantic_extractor.checkpoint for real training.')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
        self.checkpoint = checkpoint
        self._loaded = checkpoint is None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> 'FrozenResNet18Features':
        """Stay in eval mode whatever the caller asks."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, img: Tensor) -> Tensor:
        """Extract layer4 features.

        Args:
            img (Tensor): ``(B, 3, H, W)`` ImageNet-normalised RGB.

        Returns:
            Tensor: ``(B, 512, H/32, W/32)``.
        """
        if not self._loaded:
            # torchvision names match mmseg's ResNet; the fc head is unused
            load_checkpoint(self.resnet, self.checkpoint, map_location='cpu',
                            strict=False, logger='current')
            self.resnet.to(img.device)
            self._loaded = True
        return self.resnet(img)[0]
