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
    target frame I_t and the reference frame(s) I_ref.

    In training, each frame set goes through the encoder in its own call,
    as in the authors' code: BatchNorm/SyncBN normalises the target frames
    with the target batch's statistics and the references with theirs, and
    updates the running statistics once per call. In eval mode the frames
    are stacked along the batch dimension and encoded in one call, which
    gives the same result (eval-mode BN uses the running statistics) with
    fewer, larger kernels.

    Args:
        backbone (dict): Config of an MMSeg backbone returning four feature
            levels (strides 4/8/16/32), e.g. ResNet, ResNetV1c, MobileNetV2,
            MixVisionTransformer, SwinTransformer.
        decoder (dict): Config of the decoder turning the four levels into
            four maps of equal width; its first output is the appearance
            feature A (stride 4).
        per_frame_norm (bool): Encode the frame sets in separate calls in
            training (the authors' BN statistics). False stacks them in
            training too (one call, batch statistics mixed across target
            and reference frames; faster). Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, backbone: dict, decoder: dict,
                 per_frame_norm: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decoder = MODELS.build(decoder)
        self.per_frame_norm = per_frame_norm

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
        """Encode several frame sets with shared weights.

        One call per frame set in training with ``per_frame_norm`` (the
        authors' BN statistics), otherwise one batched call.

        Args:
            frames (Sequence[Tensor]): F tensors ``(B, 3, H, W)``.

        Returns:
            list[tuple[Tensor]]: per frame set, its decoder levels.
        """
        if self.training and self.per_frame_norm:
            return [self.forward(frame) for frame in frames]
        batch = frames[0].shape[0]
        levels = self.forward(torch.cat(list(frames), dim=0))
        split = [level.split(batch, dim=0) for level in levels]
        return [tuple(level[i] for level in split) for i in range(len(frames))]
