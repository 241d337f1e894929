#!/usr/bin/env python
"""Benchmark PDNet inference (paired, streaming) against an MMSeg baseline.

In ONE process and one run this measures, after warm-up, over repeated
timed calls (median and spread):

(a) ``paired``: PDNet paired forward, target and reference through the
    encoder every frame (``model.forward_paired``);
(b) ``streaming``: the reference encoded once (``model.encode_reference``),
    then ``model.forward_target`` per frame;
(c) ``baseline``: a single-frame MMSeg ``EncoderDecoder`` with the same
    backbone settings as the PDNet config + FPN + FCN head (random init,
    config in :func:`baseline_config`);

and a training step (``model.loss`` forward + backward, batch 2 by default)
with the memory-lean and the straightforward semantic-consistency loss
side by side, and the aten operators of one step (``ops_per_step``, by
name in ``ops_by_name_per_step``, of which ``casts_per_step`` dtype
casts).

Reported per mode: frames/s (batch / median latency), median latency, IQR
and min/max, peak memory, GFLOPs (``torch.utils.flop_counter``, one call),
the number of aten operators of one call (``ops``, by name in
``ops_by_name``: views excluded, BN folded into the convs in both models,
under ``--amp``'s autocast if given, whose dtype casts count; each is at
least one kernel launch in eager mode, which bounds small-batch GPU
speed) and the largest absolute difference of the foreground probabilities
from the fp32 eager paired forward (so AMP / channels_last / compile /
BN folding show how much they move the result); ratios (b)/(a) frames/s,
(b)/(c) per-frame time and (b)/(c) operators.

Peak memory is the memory allocated by torch during one call ABOVE what was
allocated before it (weights, inputs and the reference cache excluded); the
method is printed and saved as ``peak_mem_method``
(:func:`mmseg_pdnet.utils.benchmarking.peak_memory_mb`; the measuring,
the models and the training batch live in :mod:`mmseg_pdnet.utils.
benchmarking`, shared with ``gpu_report.py``):

* CUDA: ``torch.cuda.max_memory_allocated()`` after
  ``reset_peak_memory_stats()``, minus ``memory_allocated()`` before. A
  replayed CUDA graph (``--compile-mode reduce-overhead`` / ``max-autotune``)
  allocates nothing: its memory pool was filled when it was recorded. Those
  modes are therefore measured over their warm-up calls, which record the
  graph (the allocator counts graph-pool allocations while recording);
* CPU: one extra call under ``torch.profiler.profile(profile_memory=True)``;
  every allocation event carries the CPU allocator's running total of
  allocated bytes; the peak is its maximum minus its value before the
  call's first allocation. This counts tensor memory only (not the Python
  heap or allocator caching) and is measured outside the timed calls, so
  profiling does not slow the timings.

Pretrained weights are never downloaded: the backbone's ``init_cfg`` and the
frozen semantic extractor's checkpoint are switched off (speed and memory do
not depend on the weights); give CHECKPOINT to load trained PDNet weights.

Example (the numbers in docs/performance.md)::

    python tools/analysis_tools/benchmark.py \\
        configs/_base_/models/pdnet_r50.py --device cpu --size 480 \\
        --batch 1 --warmup 2 --repeats 10 --json work_dirs/bench_cpu.json
"""
import argparse
import json
import os
import time
from functools import partial

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmseg.utils import register_all_modules

# importing mmseg_pdnet registers the plugin's modules
from mmseg_pdnet.models.utils import fuse_conv_bn
from mmseg_pdnet.utils.amp import AMP_DTYPES, add_amp_argument, amp_dtype
from mmseg_pdnet.utils.benchmarking import (PEAK_MEMORY_METHOD,
                                            compile_callable, count_gflops,
                                            count_ops, device_name,
                                            peak_memory_mb, summarize,
                                            synchronize, time_interleaved,
                                            uses_cudagraphs)
from mmseg_pdnet.utils.benchmarking.inference import (count_mode_ops,
                                                      frame_metas,
                                                      max_prob_diff,
                                                      mode_calls,
                                                      mode_ratios,
                                                      random_frames)
from mmseg_pdnet.utils.benchmarking.models import (BASELINE_FPN_CHANNELS,
                                                   BASELINE_HEAD_CHANNELS,
                                                   baseline_config,
                                                   build_model,
                                                   load_pdnet_config)
from mmseg_pdnet.utils.benchmarking.precision import as_input, autocast
from mmseg_pdnet.utils.benchmarking.training import (train_step,
                                                     training_batch)
from mmseg_pdnet.utils.cli import CLIError, check_config_path, check_device

__all__ = ['main', 'baseline_config', 'build_model', 'count_mode_ops',
           'load_pdnet_config', 'peak_memory_mb', 'training_batch']

USAGE = 'benchmark.py CONFIG [CHECKPOINT] [options]'
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark PDNet paired / streaming inference, an MMSeg '
        'single-frame baseline and a training step')
    parser.add_argument('config', help='PDNet config file')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='optional PDNet checkpoint (random init if '
                        'omitted)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--size', type=int, default=480,
                        help='square input side in pixels')
    parser.add_argument('--batch', type=int, default=1,
                        help='inference batch size')
    add_amp_argument(parser, 'the timed calls (torch.autocast)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last memory format for weights and '
                        'inputs')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold BN into the convs of both models before '
                        'timing (as the video inferencer does); the op '
                        'counts are always of folded models')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the timed callables')
    parser.add_argument('--compile-mode', choices=COMPILE_MODES,
                        default=None,
                        help='torch.compile mode (implies --compile); '
                        'reduce-overhead replays CUDA graphs, which matters '
                        'at batch 1 on a GPU')
    parser.add_argument('--compile-backend', default=None,
                        help='torch.compile backend (implies --compile; '
                        'default inductor; eager / aot_eager to check '
                        'tracing without code generation)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed calls before timing')
    parser.add_argument('--repeats', type=int, default=10,
                        help='timed calls per inference mode')
    parser.add_argument('--skip-train', action='store_true',
                        help='skip the training-step measurement')
    parser.add_argument('--train-batch', type=int, default=2,
                        help='clips per training step')
    parser.add_argument('--train-size', type=int, default=None,
                        help='training input side (default --size)')
    parser.add_argument('--train-repeats', type=int, default=3,
                        help='timed training steps per loss variant (after '
                        'one warm-up step)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--json', default=None, help='write results here')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.backbone.backbone.depth=18')
    args = parser.parse_args(argv)
    for name in ('size', 'batch', 'repeats', 'train_batch', 'train_repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    try:
        check_config_path(args.config, USAGE)
        check_device(args.device)
    except CLIError as err:
        parser.error(str(err))
    # the autocast dtype, and its name ('fp16' / 'bf16'); None without --amp
    args.autocast_dtype = amp_dtype(args.amp, args.device)
    args.amp_dtype = {dtype: name for name, dtype in AMP_DTYPES.items()
                      }.get(args.autocast_dtype)
    if args.compile_mode is not None or args.compile_backend is not None:
        args.compile = True
    if args.compile:
        args.compile_mode = args.compile_mode or 'default'
        args.compile_backend = args.compile_backend or 'inductor'
        if args.compile_backend != 'inductor' and \
                args.compile_mode != 'default':
            parser.error(f'--compile-mode {args.compile_mode} needs the '
                         f'inductor backend, got --compile-backend '
                         f'{args.compile_backend}')
    return args


def maybe_compile(fn, args):
    """``fn`` compiled as --compile* ask (outputs valid until the next
    call under CUDA graphs: see :func:`compile_callable`)."""
    if not args.compile:
        return fn
    return compile_callable(fn, args.compile_mode, args.compile_backend)


def cudagraphs(args) -> bool:
    """Whether the timed callables replay CUDA graphs."""
    return args.compile and args.device == 'cuda' and \
        uses_cudagraphs(args.compile_mode, args.compile_backend)


def bench_inference(cfg: Config, args) -> dict:
    """(a) paired, (b) streaming, (c) baseline, with ratios."""
    device, b, s = args.device, args.batch, args.size
    target, ref = random_frames(b, s, device)
    model = build_model(cfg.model, device, args.checkpoint).eval()
    baseline = build_model(baseline_config(cfg.model), device).eval()
    metas = frame_metas(b, s)
    graphs = cudagraphs(args)
    mem_method = PEAK_MEMORY_METHOD[device]
    print(f'peak memory: {mem_method}', flush=True)
    amp = partial(autocast, args.autocast_dtype, device)

    results = {}
    with torch.inference_mode():
        # fp32 eager reference probabilities for the tolerance check
        fp32_prob = model.forward_paired(torch.cat(
            [target, ref], 1))['seg_logit'].sigmoid().float()
        eager = mode_calls(model, baseline, target, ref,
                           model.encode_reference(ref), metas)
        gflops = {name: count_gflops(call) for name, call in eager.items()}
        ops = count_mode_ops(model, baseline, target, ref, metas, amp())
        if args.fuse_conv_bn:
            fuse_conv_bn(model)
            fuse_conv_bn(baseline)
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
            baseline.to(memory_format=torch.channels_last)
        target_in = as_input(target, args.channels_last)
        ref_in = as_input(ref, args.channels_last)

        with amp():
            start = time.perf_counter()
            cache = model.encode_reference(ref_in)
            synchronize(device)
            ref_ms = 1000 * (time.perf_counter() - start)
            calls = mode_calls(model, baseline, target_in, ref_in, cache,
                               metas, partial(maybe_compile, args=args))
            warmup, peaks = args.warmup, {}
            if graphs:
                # a replay allocates nothing: measure each mode over the
                # warm-up calls that record its graph (warm-up run,
                # recording, first replay)
                warmup = 0
                peaks = {name: peak_memory_mb(call, device,
                                              calls=max(args.warmup, 3))
                         for name, call in calls.items()}
            # clones: under CUDA graphs the next replay overwrites outputs
            outputs = {name: calls[name]()['seg_logit'].clone()
                       for name in ('paired', 'streaming')}
            times = time_interleaved(calls, device, warmup, args.repeats)
            for name, call in calls.items():
                stats = summarize(times[name], b)
                stats['peak_mem_mb'] = peaks[name] if graphs else \
                    peak_memory_mb(call, device)
                stats['gflops'] = gflops[name]
                stats['ops'], by_name = ops[name]
                stats['ops_by_name'] = dict(by_name.most_common())
                results[name] = stats
                print(f'{name:>10}: {stats["fps"]:8.2f} frames/s, median '
                      f'{stats["median_ms"]:9.1f} ms (IQR '
                      f'{stats["q1_ms"]:.1f}-{stats["q3_ms"]:.1f}, min/max '
                      f'{stats["min_ms"]:.1f}/{stats["max_ms"]:.1f}), peak '
                      f'{stats["peak_mem_mb"]:8.1f} MiB, '
                      f'{stats["gflops"]:6.1f} GFLOPs, {stats["ops"]:4d} '
                      'ops', flush=True)
    for name in ('paired', 'streaming'):
        results[name]['max_abs_prob_diff_vs_fp32'] = max_prob_diff(
            outputs[name], fp32_prob)
    results['streaming']['reference_encode_ms'] = ref_ms
    ratios = mode_ratios(results)
    print(f'(b)/(a) frames/s {ratios["streaming_over_paired_fps"]:.3f} '
          f'(best-of {ratios["streaming_over_paired_fps_best"]:.3f}); '
          f'(b)/(c) per-frame time '
          f'{ratios["streaming_over_baseline_time"]:.3f} (best-of '
          f'{ratios["streaming_over_baseline_time_best"]:.3f}); (b)/(c) '
          f'ops {ratios["streaming_over_baseline_ops"]:.3f}; streaming '
          'vs fp32 paired max |prob diff| '
          f'{results["streaming"]["max_abs_prob_diff_vs_fp32"]:.2e}',
          flush=True)
    return dict(modes=results, ratios=ratios, peak_mem_method=mem_method +
                ('; CUDA-graph modes: over the warm-up calls' if graphs
                 else ''))


def bench_train(cfg: Config, args) -> dict:
    """Forward + backward time and peak memory: the memory-lean and the
    straightforward part losses (encoder calls per frame set, as the
    authors), and the lean losses with target and reference stacked in one
    encoder call (``per_frame_norm=False``: what the authors' separate BN
    statistics cost); the aten operators of one lean step."""
    device = args.device
    size = args.train_size or args.size
    model = build_model(cfg.model, device, args.checkpoint).train()
    if model.part_loss is None or not model.part_loss.use_sem:
        raise ValueError('the training benchmark compares the lean and the '
                         'straightforward semantic-consistency loss: the '
                         'config has no part loss with loss_sem_weight > 0')
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    inputs, samples = training_batch(args.train_batch, size, model.num_refs,
                                     device)
    step = train_step(model, as_input(inputs, args.channels_last), samples,
                      args.autocast_dtype)
    out = dict(batch=args.train_batch, size=size,
               num_parts=model.neck.num_parts if model.use_ipda else 1)
    per_frame = model.backbone.per_frame_norm
    variants = dict(lean=(True, per_frame), straightforward=(False, per_frame),
                    lean_stacked=(True, False))

    def run_variant(lean: bool, per_frame_norm: bool):
        model.part_loss.sem.lean = lean
        model.backbone.per_frame_norm = per_frame_norm
        return step()

    calls = {name: partial(run_variant, *flags)
             for name, flags in variants.items()}
    # one warm-up step each (also the loss values), then interleaved steps
    values = {name: call().item() for name, call in calls.items()}
    # operators of one lean step, forward + backward: under --amp the
    # autocast casts (aten._to_copy) show how many kernels AMP adds
    ops, by_name = count_ops(calls['lean'])
    out['ops_per_step'] = ops
    out['casts_per_step'] = by_name['aten._to_copy']
    out['ops_by_name_per_step'] = dict(by_name.most_common())
    times = time_interleaved(calls, device, 0, args.train_repeats)
    for name, call in calls.items():
        stats = summarize(times[name], 1)
        stats.pop('fps')
        model.zero_grad(set_to_none=True)  # grads are not part of the peak
        stats['peak_mem_mb'] = peak_memory_mb(call, device)
        model.zero_grad(set_to_none=True)
        stats['loss'] = values[name]
        out[name] = stats
        print(f'train {name:>15}: median {stats["median_ms"]:9.1f} ms '
              f'(min/max {stats["min_ms"]:.1f}/{stats["max_ms"]:.1f}), peak '
              f'{stats["peak_mem_mb"]:9.1f} MiB, loss {values[name]:.6f}',
              flush=True)
    lean, plain = out['lean'], out['straightforward']
    out['peak_mem_ratio_lean_over_straightforward'] = \
        lean['peak_mem_mb'] / plain['peak_mem_mb']
    out['time_ratio_lean_over_straightforward'] = \
        lean['median_ms'] / plain['median_ms']
    out['loss_rel_diff'] = abs(lean['loss'] - plain['loss']) / abs(
        plain['loss'])
    out['time_ratio_per_frame_over_stacked'] = \
        lean['median_ms'] / out['lean_stacked']['median_ms']
    model.backbone.per_frame_norm = per_frame
    print('train per-frame-set encoder calls / one stacked call: time '
          f'ratio {out["time_ratio_per_frame_over_stacked"]:.3f}; lean step '
          f'{ops} ops, of which {out["casts_per_step"]} dtype casts',
          flush=True)
    print('train peak memory lean / straightforward '
          f'{out["peak_mem_ratio_lean_over_straightforward"]:.3f}; time '
          f'ratio {out["time_ratio_lean_over_straightforward"]:.3f}; total '
          f'loss relative difference {out["loss_rel_diff"]:.1e}', flush=True)
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:  # callers (tests) keep their own thread count
        torch.set_num_threads(threads)


def run(args) -> dict:
    """Run every measurement of the parsed ``args``; see the module doc."""
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    # a WARNING-level current logger keeps init_weights' per-parameter
    # report out of the benchmark's output
    MMLogger.get_instance('benchmark', log_level='WARNING')
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    cfg = load_pdnet_config(args.config, args.cfg_options)

    result = dict(
        device=device_name(args.device),
        torch=torch.__version__,
        load_avg_start=list(os.getloadavg()),
        settings=dict(
            config=args.config, checkpoint=args.checkpoint,
            device=args.device, size=args.size, batch=args.batch,
            amp=bool(args.amp), amp_dtype=args.amp_dtype,
            channels_last=args.channels_last,
            fuse_conv_bn=args.fuse_conv_bn, compile=args.compile,
            compile_mode=args.compile_mode,
            compile_backend=args.compile_backend,
            warmup=args.warmup, repeats=args.repeats,
            cfg_options=args.cfg_options,
            baseline=dict(fpn_channels=BASELINE_FPN_CHANNELS,
                          head_channels=BASELINE_HEAD_CHANNELS)))
    print(f'device: {result["device"]}; {args.size}x{args.size}, batch '
          f'{args.batch}, amp {result["settings"]["amp_dtype"]}, '
          f'channels_last {args.channels_last}, fuse_conv_bn '
          f'{args.fuse_conv_bn}, compile {args.compile}'
          + (f' ({args.compile_backend}, mode {args.compile_mode})'
             if args.compile else '') + '; '
          f'load average {result["load_avg_start"]}', flush=True)
    result['inference'] = bench_inference(cfg, args)
    if not args.skip_train:
        result['train'] = bench_train(cfg, args)
    result['load_avg_end'] = list(os.getloadavg())
    print(f'load average at the end {result["load_avg_end"]}')
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'results written to {args.json}')
    return result


if __name__ == '__main__':
    main()
