# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Numeric settings of a measured call: autocast dtype and memory format."""
from contextlib import nullcontext
from typing import Optional

import torch


def autocast(dtype: Optional[torch.dtype], device: str):
    """``torch.autocast`` to ``dtype`` on ``device``; a no-op for None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device, dtype=dtype)


def memory_format(channels_last: bool) -> torch.memory_format:
    """``torch.channels_last`` or the default (NCHW) format."""
    return torch.channels_last if channels_last else torch.contiguous_format


def as_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in the memory format the model's weights use."""
    return x.contiguous(memory_format=memory_format(channels_last))
