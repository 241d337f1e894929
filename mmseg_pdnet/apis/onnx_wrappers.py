# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Export-friendly views of PDNet: the streaming pair of graphs and the
paired graph (``tools/deployment/export_onnx.py``).

Inputs are NORMALISED float32 RGB frames, NCHW: resized to the config's
test size, BGR -> RGB, ``(x - mean) / std`` with the data preprocessor's
mean/std (``PairedSegDataPreProcessor.normalize_frames``); outputs are
foreground probabilities (sigmoid applied). docs/deployment.md gives the
full input contract and an onnxruntime example."""
from typing import Tuple

from torch import Tensor, nn


class ReferenceEncoder(nn.Module):
    """Reference frame ``(1, 3, H, W)`` -> IPDA keys and values
    ``(1, p, d, N)`` with N = (H / 16) * (W / 16)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ref: Tensor) -> Tuple[Tensor, Tensor]:
        cache = self.model.encode_reference(ref)
        return cache['key'], cache['value']


class TargetSegmenter(nn.Module):
    """Target frame + cached keys/values -> probability ``(1, 1, H, W)``
    and part maps R_t^k ``(1, p, H/16, W/16)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, img: Tensor, key: Tensor,
                value: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.model.forward_target(img, dict(key=key, value=value))
        return out['seg_logit'].sigmoid(), out['parts']


class PairedSegmenter(nn.Module):
    """Target and reference stacked ``(1, 6, H, W)`` -> probability."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pair: Tensor) -> Tensor:
        return self.model.encode_decode(pair).sigmoid()
