# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Training under CPU autocast (bfloat16), for CPUs that compute it.

MMEngine's ``AmpOptimWrapper`` refuses to be built without a GPU. On a CPU
with native bfloat16 (AVX512-BF16 or AMX), convolutions and matrix products
run faster in bfloat16: a training iteration of the demo recipe took 0.7x
the time of float32 on a 2-core AMD EPYC (docs/demo.md). Elsewhere
bfloat16 is emulated and slower than float32. bfloat16 has float32's
exponent range: no loss scaling is needed.
"""
import contextlib
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

#: ``enabled`` values
ENABLED = (True, False, 'auto')


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported()
                or torch.cpu._is_amx_tile_supported())


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward pass runs under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    Parameters, gradients and optimizer state stay float32; autocast runs
    convolutions and linear layers in bfloat16 and keeps reductions and
    losses in float32. The checkpointed state is an ``OptimWrapper``'s:
    a run can resume with autocast on or off. A model on a GPU gets no CPU
    autocast: it trains in float32 (use ``--amp`` there).

    Args:
        enabled (bool | str): True: autocast; False: plain float32;
            ``'auto'`` (default): autocast only where
            :func:`cpu_has_native_bf16`. Defaults to ``'auto'``.
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, enabled: Union[bool, str] = 'auto', **kwargs):
        if enabled not in ENABLED:
            raise ValueError(f"CPUAutocastOptimWrapper: enabled must be "
                             f"True, False or 'auto', got {enabled!r}")
        super().__init__(**kwargs)
        self.enabled = cpu_has_native_bf16() if enabled == 'auto' \
            else enabled

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        """``OptimWrapper.optim_context`` (gradient accumulation), under
        CPU bfloat16 autocast when enabled."""
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=self.enabled):
            yield
