# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Loss precision under AMP.

Under ``torch.autocast`` the network's outputs arrive in float16 or
bfloat16. PDNet's losses reduce over whole frames: at 480x480 a part's
area reaches 230,400, beyond float16's largest value (65,504), and the
concentration loss's coordinates ``arange(N) / N * 2 - 1`` are not
distinct in bfloat16 (8-bit mantissa). The losses therefore compute in
float32; they are cheap next to the network, so this costs little.
"""
from typing import Tuple

import torch
from torch import Tensor


def at_least_float32(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Cast floating tensors narrower than float32 to float32.

    float32 and float64 tensors are returned as they are.

    Args:
        *tensors (Tensor): Floating-point tensors.

    Returns:
        tuple[Tensor]: The tensors, each float32 or wider.
    """
    return tuple(t.to(torch.promote_types(t.dtype, torch.float32))
                 for t in tensors)
