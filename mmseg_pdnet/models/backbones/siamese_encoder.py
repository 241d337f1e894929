# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import List, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class SiameseEncoder(BaseModule):
    """Siamese encoder of PDNet (paper sec. 4.1, Fig. 5).

    Wraps ANY MMSeg backbone (``backbone``) and a top-down decoder
    (``decoder``: :class:`MultiplicativeTopDown` by default, or MMSeg's
    ``FPN`` neck) into one encoder whose weights are shared between the
    target frame I_t and the reference frame(s) I_ref: all frames go through
    the same modules, stacked along the batch dimension.

    Args:
        backbone (dict): Config of an MMSeg backbone returning four feature
            levels (strides 4/8/16/32), e.g. ResNet, ResNetV1c, MobileNetV2,
            MixVisionTransformer, SwinTransformer.
        decoder (dict): Config of the decoder turning the four levels into
            four maps of equal width; its first output is the appearance
            feature A (stride 4).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, backbone: dict, decoder: dict, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decoder = MODELS.build(decoder)

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        """Encode a batch of single frames.

        Args:
            img (Tensor): ``(N, 3, H, W)`` normalised frames.

        Returns:
            tuple[Tensor]: the decoder levels, finest first;
            ``out[0]`` is A with shape ``(N, C, H/4, W/4)``.
        """
        feats = self.backbone(img)
        return tuple(self.decoder(feats))

    def forward_frames(self, frames: Sequence[Tensor]) -> List[Tuple[Tensor]]:
        """Encode several frames with shared weights in one batched pass.

        Args:
            frames (Sequence[Tensor]): F tensors ``(B, 3, H, W)``.

        Returns:
            list[tuple[Tensor]]: per frame, its decoder levels.
        """
        batch = frames[0].shape[0]
        levels = self.forward(torch.cat(list(frames), dim=0))
        split = [level.split(batch, dim=0) for level in levels]
        return [tuple(level[i] for level in split) for i in range(len(frames))]
