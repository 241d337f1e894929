# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The three inference modes the speed tools compare, as callables.

* ``paired``: PDNet's paired forward, target and reference through the
  encoder every frame (``PDNet.forward_paired``);
* ``streaming``: ``PDNet.forward_target`` with the reference encoded once
  (``PDNet.encode_reference``);
* ``baseline``: a single-frame MMSeg ``EncoderDecoder``
  (:func:`~.models.baseline_config`), ``encode_decode``.
"""
import copy
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Tuple

import torch

from mmseg_pdnet.apis.cuda_graph_runner import CUDAGraphRunner
from mmseg_pdnet.models.utils import fuse_conv_bn
from .counting import count_ops

MODES = ('paired', 'streaming', 'baseline')


def random_frames(batch: int, size: int, device: str,
                  seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Normalised random target and reference frames ``(B, 3, S, S)``."""
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, 3, size, size, generator=gen)
    ref = torch.randn(batch, 3, size, size, generator=gen)
    return target.to(device), ref.to(device)


def frame_metas(batch: int, size: int) -> List[dict]:
    """The baseline's ``encode_decode`` metainfo of square frames."""
    return [dict(img_shape=(size, size), ori_shape=(size, size),
                 pad_shape=(size, size))] * batch


def mode_calls(model, baseline, target, ref, cache, metas,
               wrap: Callable = lambda fn: fn) -> Dict[str, Callable]:
    """The three modes as callables without arguments.

    Args:
        model (PDNet): The PDNet.
        baseline (EncoderDecoder): The single-frame baseline.
        target (Tensor): ``(B, 3, H, W)`` target frames.
        ref (Tensor): ``(B, 3, H, W)`` reference frames.
        cache (dict): ``model.encode_reference(ref)``.
        metas (list[dict]): The baseline's metainfo.
        wrap (Callable): Applied to each bound method first (e.g.
            ``torch.compile``).

    Returns:
        dict[str, Callable]: ``paired``, ``streaming``, ``baseline``; each
        returns a dict with ``seg_logit`` (``paired`` / ``streaming``) or
        the baseline's logits.
    """
    paired_fn = wrap(model.forward_paired)
    target_fn = wrap(model.forward_target)
    baseline_fn = wrap(baseline.encode_decode)
    pair = torch.cat([target, ref], 1)
    return dict(
        paired=lambda: paired_fn(pair),
        streaming=lambda: target_fn(target, cache),
        baseline=lambda: baseline_fn(target, metas))


def graph_mode_calls(model, baseline, target, ref, cache, metas,
                     context=nullcontext, runner_cls=CUDAGraphRunner
                     ) -> Dict[str, Callable]:
    """The three modes replayed as CUDA graphs, as the video inferencer's
    ``compile=True`` replays its per-frame forward.

    Each mode gets its own :class:`CUDAGraphRunner`: the first call warms
    up on a side stream and captures; every call copies the frame(s) into
    the static input and replays. The streaming reference lives in the
    runner's static buffers.

    Args:
        model, baseline, target, ref, cache, metas: as :func:`mode_calls`.
        context (Callable): Returns the context each captured call runs
            in (e.g. the autocast of the run).
        runner_cls (type): The graph runner (a stand-in with the same
            bookkeeping runs the code path on a CPU).

    Returns:
        dict[str, Callable]: As :func:`mode_calls`; the outputs are the
        graphs' static buffers, overwritten by the next call.
    """
    def paired(x, reference):
        with context():
            return dict(seg_logit=model.forward_paired(x)['seg_logit'])

    def streaming(x, reference):
        with context():
            return dict(seg_logit=model.forward_target(x, reference)
                        ['seg_logit'])

    def single(x, reference):
        with context():
            return dict(seg_logit=baseline.encode_decode(x, metas))

    runners = {name: runner_cls(fn) for name, fn in
               (('paired', paired), ('streaming', streaming),
                ('baseline', single))}
    runners['paired'].set_reference({})
    runners['streaming'].set_reference(cache)
    runners['baseline'].set_reference({})
    pair = torch.cat([target, ref], 1)
    inputs = dict(paired=pair, streaming=target, baseline=target)
    return {name: (lambda r=runners[name], x=inputs[name]: r(x))
            for name in MODES}


def count_mode_ops(model, baseline, target, ref, metas,
                   context=None) -> Dict[str, Tuple[int, 'Counter']]:
    """Aten operators of one call of each mode, BN folded into the convs
    of copies of both models (what a deployed model runs).

    Args:
        model, baseline, target, ref, metas: as :func:`mode_calls`.
        context (contextmanager, optional): The run's autocast (its dtype
            casts are kernels too). Defaults to none.

    Returns:
        dict[str, tuple[int, Counter]]: per mode, the total and the count
        per operator name.
    """
    model = fuse_conv_bn(copy.deepcopy(model))
    baseline = fuse_conv_bn(copy.deepcopy(baseline))
    with context if context is not None else nullcontext():
        calls = mode_calls(model, baseline, target, ref,
                           model.encode_reference(ref), metas)
        return {name: count_ops(call) for name, call in calls.items()}


def max_prob_diff(logits: torch.Tensor,
                  reference_prob: Optional[torch.Tensor]) -> float:
    """Largest ``|sigmoid(logits) - reference_prob|``."""
    return (logits.float().sigmoid() - reference_prob).abs().max().item()


def mode_ratios(results: dict) -> dict:
    """Ratios of the modes' statistics: (b)/(a) frames/s, (b)/(c)
    per-frame time (medians, and best-of: the fastest calls, the least
    disturbed by other processes) and (b)/(c), (a)/(c) operators.

    Args:
        results (dict): per mode, :func:`~.timing.summarize`'s statistics
            plus ``ops`` (optional: the operator ratios need it).

    Returns:
        dict[str, float]: The ratios.
    """
    a, b, c = (results[k] for k in ('paired', 'streaming', 'baseline'))
    ratios = dict(
        streaming_over_paired_fps=a['median_ms'] / b['median_ms'],
        streaming_over_baseline_time=b['median_ms'] / c['median_ms'],
        baseline_over_streaming_fps=b['median_ms'] / c['median_ms'],
        # from the fastest call of each mode: the least disturbed by other
        # processes on a shared machine
        streaming_over_paired_fps_best=a['min_ms'] / b['min_ms'],
        streaming_over_baseline_time_best=b['min_ms'] / c['min_ms'])
    if all('ops' in r for r in (a, b, c)):
        # deterministic: kernel launches per frame, BN folded in both
        ratios.update(streaming_over_baseline_ops=b['ops'] / c['ops'],
                      paired_over_baseline_ops=a['ops'] / c['ops'])
    return ratios
