# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The training step (``PDNet.loss`` forward + backward) in fp32, AMP,
AMP + channels_last and compiled, timed in turns: ms per step, peak
memory and aten operators per step."""
import copy
from typing import Optional

import torch

from ..benchmarking import (compile_callable, count_ops, peak_memory_mb,
                            summarize, time_interleaved)
from ..benchmarking.models import build_model
from ..benchmarking.precision import as_input
from ..benchmarking.training import train_step, training_batch

#: variant -> (autocast, channels_last, compiled)
VARIANTS = {
    'fp32': (False, False, False),
    'amp': (True, False, False),
    'amp_channels_last': (True, True, False),
    'compiled': (False, False, True),
}


def measure_training(model_cfg, device: str, size: int, batch: int,
                     warmup: int, repeats: int,
                     compile_backend: str = 'inductor',
                     half: Optional[torch.dtype] = None) -> dict:
    """Time the four variants of one training step.

    Each variant has its own copy of the same initial model (channels_last
    changes the weights' layout). The compiled variant is
    ``torch.compile(model.loss)`` (mode ``default``) in fp32, backward
    through the compiled graph; the first of its warm-up steps compiles.
    No optimizer step and no value read back inside a timed step.

    Args:
        model_cfg (ConfigDict): The PDNet model config (no downloads).
        device (str): ``'cuda'`` or ``'cpu'``.
        size (int): Square input side.
        batch (int): Clips per step.
        warmup (int): Untimed steps per variant (at least 1).
        repeats (int): Timed steps per variant.
        compile_backend (str): Backend of the compiled variant.
        half (torch.dtype, optional): The AMP dtype. Defaults to float16
            on CUDA, bfloat16 on a CPU.

    Returns:
        dict: per variant its settings, timing statistics, ``peak_mem_mb``,
        ``loss`` (of its first step: equal across variants within AMP's
        precision), ``ops_per_step`` and ``casts_per_step`` (eager
        variants; a compiled step runs fused kernels, not counted);
        ``speedup_over_fp32`` (median); the batch settings.
    """
    if half is None:
        half = torch.float16 if device == 'cuda' else torch.bfloat16
    initial = build_model(model_cfg, device).train()
    inputs, samples = training_batch(batch, size, initial.num_refs, device)
    steps, models, out = {}, {}, dict(batch=batch, size=size,
                          num_parts=initial.neck.num_parts
                          if initial.use_ipda else 1,
                          amp_dtype=str(half).replace('torch.', ''),
                          compile_backend=compile_backend)
    for name, (amp, channels_last, compiled) in VARIANTS.items():
        model = models[name] = copy.deepcopy(initial)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        loss_fn = compile_callable(model.loss, 'default', compile_backend) \
            if compiled else None
        steps[name] = train_step(model, as_input(inputs, channels_last),
                                 samples, half if amp else None, loss_fn)
        out[name] = dict(amp=amp, channels_last=channels_last,
                         compiled=compiled)
    del initial
    for name, step in steps.items():
        out[name]['loss'] = step().item()
        for _ in range(warmup - 1):
            step()
        if not out[name]['compiled']:
            ops, by_name = count_ops(step)
            out[name]['ops_per_step'] = ops
            out[name]['casts_per_step'] = by_name['aten._to_copy']
    times = time_interleaved(steps, device, 0, repeats)
    for name, step in steps.items():
        stats = summarize(times[name], 1)
        stats.pop('fps')
        out[name].update(stats)
        # the previous step's gradients are not part of the peak
        models[name].zero_grad(set_to_none=True)
        out[name]['peak_mem_mb'] = peak_memory_mb(step, device)
        models[name].zero_grad(set_to_none=True)
    for name in VARIANTS:
        out[name]['speedup_over_fp32'] = \
            out['fp32']['median_ms'] / out[name]['median_ms']
    return out
