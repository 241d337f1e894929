# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Measurement shared by the speed tools (``benchmark.py``,
``gpu_report.py``) and the speed hook. One concept per module:

* :mod:`.timing`: :func:`synchronize`, :func:`now`; repeated timed calls
  of several callables taking turns (:func:`time_interleaved`) and their
  median, IQR, min/max, frames/s (:func:`summarize`);
* :mod:`.memory`: :func:`peak_memory_mb`, memory torch allocates during a
  call (:data:`PEAK_MEMORY_METHOD` says how);
* :mod:`.counting`: :func:`count_gflops`, and :func:`count_ops`, the aten
  operators a call dispatches (views excluded), a deterministic proxy for
  the number of kernels, which bounds small-batch GPU speed;
* :mod:`.device`: :func:`device_name`, which device gave the numbers;
* :mod:`.compiling`: :func:`compile_callable`, ``torch.compile`` for
  repeated timed calls, safe with CUDA graphs (:func:`uses_cudagraphs`);
* :mod:`.precision`: autocast and memory format of a measured call;
* :mod:`.models`: PDNet from a config without downloads, and the
  single-frame MMSeg baseline;
* :mod:`.inference`: the paired, streaming and baseline modes as
  callables, eager or replayed as CUDA graphs, and their operator counts;
* :mod:`.training`: a fixed training batch and the training step.

The last three need the registries of mmseg and this plugin and are
imported from their modules (not re-exported here).
"""
from .compiling import compile_callable, uses_cudagraphs
from .counting import OpCounter, count_gflops, count_ops, is_kernel_op
from .device import cpu_model, device_name
from .memory import PEAK_MEMORY_METHOD, peak_memory_mb
from .timing import now, summarize, synchronize, time_interleaved

__all__ = [
    'compile_callable', 'uses_cudagraphs', 'OpCounter', 'count_gflops',
    'count_ops', 'is_kernel_op', 'cpu_model', 'device_name',
    'PEAK_MEMORY_METHOD', 'peak_memory_mb', 'now', 'summarize',
    'synchronize', 'time_interleaved'
]
