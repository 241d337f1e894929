# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor


def resize_bilinear(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize with ``align_corners=True``, PDNet's one resize.

    The authors resize every feature map, logit and part map this way (the
    IPDA's x0.25 input, M_t to A_t's size, side outputs, the final logits,
    the semantic features); keeping it in one place keeps them agreeing.

    Args:
        x (Tensor): ``(B, C, H, W)``.
        size (Sequence[int]): Output ``(H', W')``.

    Returns:
        Tensor: ``(B, C, H', W')``; ``x`` itself when the size is already
        ``(H', W')`` (no kernel is launched).
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode='bilinear',
                         align_corners=True)
