# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Inference speed of every mode, batch, precision and execution, in ONE
interleaved run: the callables take turns, so a change of the machine's
state hits them alike and the streaming/baseline ratios stay fair."""
import copy
from functools import partial
from typing import Callable, Dict, Optional, Sequence

import torch

from mmseg_pdnet.apis.cuda_graph_runner import CUDAGraphRunner
from mmseg_pdnet.models.utils import fuse_conv_bn
from ..benchmarking import peak_memory_mb, summarize, time_interleaved
from ..benchmarking.inference import (MODES, frame_metas, graph_mode_calls,
                                      mode_calls,
                                      mode_ratios, random_frames)
from ..benchmarking.models import baseline_config, build_model
from ..benchmarking.precision import as_input, autocast

#: precision name -> (autocast dtype on CUDA, channels_last)
PRECISIONS = {'fp32': (None, False),
              'fp16_channels_last': (torch.float16, True)}
EXECUTIONS = ('eager', 'cuda_graphs')


def _in_context(fn, context):
    def call():
        with context():
            return fn()
    return call


def measure_inference(model_cfg, device: str, size: int,
                      batches: Sequence[int], warmup: int, repeats: int,
                      runner_cls: Optional[type] = None) -> dict:
    """Frames/s, peak memory and the streaming/baseline ratio of
    ``{paired, streaming, baseline} x batches x {fp32, fp16 +
    channels_last} x {eager, CUDA graphs}``.

    BN is folded into the convs of both models (what the video inferencer
    and a deployed model run). fp16 is ``torch.autocast`` (the inferencer's
    ``--amp fp16``; bf16 on a CPU, whose autocast has few fp16 kernels).
    CUDA graphs are the inferencer's :class:`CUDAGraphRunner`: every call
    copies the frames into the static input and replays.

    Args:
        model_cfg (ConfigDict): The PDNet model config (no downloads).
        device (str): ``'cuda'`` (or ``'cpu'`` to check the code path).
        size (int): Square input side.
        batches (Sequence[int]): Batch sizes.
        warmup (int): Untimed rounds.
        repeats (int): Timed rounds.
        runner_cls (type, optional): The graph runner; None:
            :class:`CUDAGraphRunner` on CUDA, no graph rows on a CPU.

    Returns:
        dict: ``rows`` (one per callable: mode, batch, precision,
        execution, timing statistics, ``peak_mem_mb``,
        ``max_abs_prob_diff_vs_fp32_eager``), ``ratios`` (per batch,
        precision and execution: :func:`mode_ratios`) and ``notes``.
    """
    if runner_cls is None and device == 'cuda':
        runner_cls = CUDAGraphRunner
    executions = EXECUTIONS if runner_cls is not None else ('eager', )
    half = torch.float16 if device == 'cuda' else torch.bfloat16
    base = fuse_conv_bn(build_model(model_cfg, device).eval())
    base_single = fuse_conv_bn(
        build_model(baseline_config(model_cfg), device).eval())
    calls: Dict[str, Callable] = {}
    keys: Dict[str, dict] = {}
    with torch.inference_mode():
        models = {}
        for precision, (dtype, channels_last) in PRECISIONS.items():
            fmt = torch.channels_last if channels_last else \
                torch.contiguous_format
            models[precision] = (
                copy.deepcopy(base).to(memory_format=fmt),
                copy.deepcopy(base_single).to(memory_format=fmt))
        for batch in batches:
            target, ref = random_frames(batch, size, device)
            metas = frame_metas(batch, size)
            for precision, (dtype, channels_last) in PRECISIONS.items():
                context = partial(autocast, dtype and half, device)
                model, baseline = models[precision]
                x = as_input(target, channels_last)
                r = as_input(ref, channels_last)
                with context():
                    cache = model.encode_reference(r)
                built = dict(eager={
                    name: _in_context(fn, context) for name, fn in
                    mode_calls(model, baseline, x, r, cache, metas).items()})
                if 'cuda_graphs' in executions:
                    built['cuda_graphs'] = graph_mode_calls(
                        model, baseline, x, r, cache, metas, context,
                        runner_cls)
                for execution, fns in built.items():
                    for mode in MODES:
                        name = f'{mode}/b{batch}/{precision}/{execution}'
                        calls[name] = fns[mode]
                        keys[name] = dict(mode=mode, batch=batch,
                                          precision=precision,
                                          execution=execution)
        # peak memory first: a graph's first call records it (warm-up on
        # a side stream, capture), the only call that allocates
        peaks = {name: peak_memory_mb(fn, device) for name, fn in
                 calls.items()}
        probs = {}
        for name, fn in calls.items():
            out = fn()
            logits = out['seg_logit'] if isinstance(out, dict) else out
            probs[name] = logits.float().sigmoid().clone()
        times = time_interleaved(calls, device, warmup, repeats)
    rows, ratios = [], {}
    for name, key in keys.items():
        fp32 = f'{key["mode"]}/b{key["batch"]}/fp32/eager'
        stats = summarize(times[name], key['batch'])
        rows.append(dict(
            key, **stats, peak_mem_mb=peaks[name],
            max_abs_prob_diff_vs_fp32_eager=(
                probs[name] - probs[fp32]).abs().max().item()))
    for batch in batches:
        for precision in PRECISIONS:
            for execution in executions:
                by_mode = {r['mode']: r for r in rows if
                           (r['batch'], r['precision'], r['execution']) ==
                           (batch, precision, execution)}
                ratios[f'b{batch}/{precision}/{execution}'] = \
                    mode_ratios(by_mode)
    notes = [f'BN folded in both models; fp16 = torch.autocast('
             f'{str(half).replace("torch.", "")}) + channels_last weights '
             'and inputs; CUDA graphs = CUDAGraphRunner (the video '
             "inferencer's --compile), the frame copied into the static "
             'input every call; peak memory of a graph row = its first '
             'call (warm-up and capture)']
    if 'cuda_graphs' not in executions:
        notes.append('no CUDA: the CUDA-graph rows are not measured')
    return dict(rows=rows, ratios=ratios, notes=notes)
