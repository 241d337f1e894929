# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Measurement helpers shared by the benchmark tools and the speed hook.

* :func:`synchronize`, :func:`now`: wall-clock points after the device's
  queued work has finished;
* :func:`time_interleaved`: repeated timed calls of several callables,
  taking turns; :func:`summarize`: median, IQR, min/max, frames/s;
* :func:`peak_memory_mb`: memory torch allocates during a call;
* :func:`count_gflops`: FLOPs of a call (``torch.utils.flop_counter``);
* :func:`count_ops`: aten operators a call dispatches (views excluded), a
  deterministic proxy for the number of kernels, which bounds the speed of
  small-batch GPU inference;
* :func:`device_name`: the line that says which device gave the numbers;
* :func:`compile_callable`: ``torch.compile`` for repeated timed calls,
  safe with CUDA graphs (:func:`uses_cudagraphs`).
"""
import functools
import os
import platform
import statistics
import time
from collections import Counter
from typing import Callable, Dict, List, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

# No kernel: ``_unsafe_view`` shares its input's storage without saying so
# in its schema (the reshape that matmul / reshape emit after a copy); the
# empty* factories only allocate
_NO_KERNEL_OPS = frozenset(
    getattr(torch.ops.aten, name) for name in
    ('_unsafe_view', 'empty', 'empty_like', 'empty_strided', 'new_empty',
     'new_empty_strided'))


_COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd


def synchronize(device: str) -> None:
    """Wait for the queued work of ``device`` (a no-op on the CPU)."""
    if device == 'cuda':
        torch.cuda.synchronize()


def now(device: str) -> float:
    """``time.perf_counter()`` once the queued work of ``device`` is done."""
    synchronize(device)
    return time.perf_counter()


def time_interleaved(calls: Dict[str, Callable], device: str, warmup: int,
                     repeats: int) -> Dict[str, List[float]]:
    """Seconds of ``repeats`` calls of each callable, after ``warmup``.

    The callables take turns (a, b, c, a, b, c, ...), so a change of the
    machine's load during the run hits every mode alike and the ratios stay
    meaningful on a shared machine.

    Args:
        calls (dict[str, Callable]): Named callables without arguments.
        device (str): ``'cpu'`` or ``'cuda'`` (synchronised around calls).
        warmup (int): Untimed rounds first.
        repeats (int): Timed rounds.

    Returns:
        dict[str, list[float]]: per name, ``repeats`` durations in seconds.
    """
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    synchronize(device)
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def summarize(times: List[float], batch: int) -> Dict[str, float]:
    """Median, quartiles and extremes (ms) and frames/s of call durations.

    Args:
        times (list[float]): Durations in seconds.
        batch (int): Frames per call (frames/s = batch / median).

    Returns:
        dict[str, float]: ``fps``, ``median_ms``, ``q1_ms``, ``q3_ms``,
        ``min_ms``, ``max_ms``.
    """
    ms = sorted(t * 1000 for t in times)
    q1, _, q3 = (statistics.quantiles(ms, n=4, method='inclusive')
                 if len(ms) > 1 else (ms[0], ms[0], ms[0]))
    median = statistics.median(ms)
    return dict(
        fps=1000 * batch / median,
        median_ms=median,
        q1_ms=q1,
        q3_ms=q3,
        min_ms=ms[0],
        max_ms=ms[-1])


#: how :func:`peak_memory_mb` measures, per device (printed and saved by
#: the benchmark next to the numbers)
PEAK_MEMORY_METHOD = dict(
    cpu='torch.profiler allocation events: maximum of the CPU allocator '
    'running total minus its value before the first allocation (tensors '
    'only)',
    cuda='torch.cuda.max_memory_allocated() after reset_peak_memory_stats() '
    'minus memory_allocated() before the calls; allocations in CUDA-graph '
    'pools count while the graph is recorded, so graph modes are measured '
    'over their warm-up calls, recording included')


def peak_memory_mb(fn: Callable, device: str, calls: int = 1) -> float:
    """Peak memory (MiB) torch allocates during ``calls`` calls of ``fn``,
    above what was allocated before them (weights, inputs, caches).

    * CUDA: ``torch.cuda.max_memory_allocated()`` after
      ``reset_peak_memory_stats()``, minus ``memory_allocated()`` before.
      A replayed CUDA graph allocates nothing (its memory pool was filled
      when it was recorded): measure a graph over the calls that record it
      (``calls`` = the warm-up calls), which the allocator's statistics
      include.
    * CPU: the calls run under ``torch.profiler.profile(profile_memory=
      True)``; every allocation event carries the CPU allocator's running
      total of allocated bytes; the peak is its maximum minus its value
      before the first allocation. Tensor memory only (not the Python heap
      or allocator caching).

    Args:
        fn (Callable): Callable without arguments.
        device (str): ``'cpu'`` or ``'cuda'``.
        calls (int): Calls of ``fn`` measured together. Defaults to 1.

    Returns:
        float: MiB.
    """
    if device == 'cuda':
        synchronize(device)
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(calls):
            fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        for _ in range(calls):
            fn()
    events = []
    stack = list(p.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            fields = node.extra_fields
            events.append((node.start_time_ns, fields.total_allocated,
                           fields.alloc_size))
        stack.extend(node.children)
    if not events:
        raise RuntimeError('torch.profiler recorded no CPU allocation; '
                           'cannot measure peak memory')
    # the allocator's running total is process-wide: subtract its value
    # just before the first event of these calls
    _, total, size = min(events)
    start = total - size
    peak = max(0, max(total for _, total, _ in events) - start)
    return peak / 2**20


def count_gflops(fn: Callable) -> float:
    """Forward GFLOPs of one call (multiply-add = 2 FLOPs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def is_kernel_op(func) -> bool:
    """Whether an aten overload counts as a kernel for :class:`OpCounter`.

    Not counted: views and aliases (``view``, ``transpose``, ``expand``,
    ``split``, ``detach``...: the schema returns an alias of an input, or
    ``_unsafe_view``), allocations without a kernel (``empty``...), and
    operators returning no tensor (``promote_types``, ``.item()``'s
    ``_local_scalar_dense``).
    """
    if func.is_view or func.overloadpacket in _NO_KERNEL_OPS:
        return False
    return any('Tensor' in str(r.type) for r in func._schema.returns)


class OpCounter(TorchDispatchMode):
    """Count the aten operators dispatched in its context.

    Composite operators (``conv2d``, ``batch_norm``, ``reshape``,
    ``contiguous``... which reach the mode whole under
    ``torch.inference_mode()``) are run through their decomposition inside
    the mode and counted as the operators they run, so the count does not
    depend on the autograd state, and a ``reshape`` or ``contiguous`` that
    copies counts its copy. Of the rest, every operator that launches a
    kernel counts once (:func:`is_kernel_op`: not views, aliases or bare
    allocations). In eager mode on a GPU each counted operator is (at
    least) one kernel launch.

    Attributes:
        counts (Counter): per operator name (``'aten.convolution'``...),
            how often it ran.
    """

    def __init__(self):
        super().__init__()
        self.counts: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), _COMPOSITE):
            # the C++ composite kernel eager mode runs (not func.decompose,
            # which prefers the Python decompositions written for tracing,
            # e.g. upsample as a dozen index operators), inside the mode
            # again to see the operators it calls
            with self:
                return func._op_dk(_COMPOSITE, *args, **kwargs)
        if is_kernel_op(func):
            self.counts[str(func.overloadpacket)] += 1
        return func(*args, **kwargs)

    @property
    def total(self) -> int:
        """All counted operators."""
        return sum(self.counts.values())


def count_ops(fn: Callable) -> Tuple[int, Counter]:
    """Aten operators (those launching a kernel) of one call of ``fn``.

    Args:
        fn (Callable): Callable without arguments.

    Returns:
        tuple[int, Counter]: the total and the count per operator name.
    """
    with OpCounter() as counter:
        fn()
    return counter.total, counter.counts


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, what ``lscpu`` shows on
    Linux), else what :mod:`platform` knows."""
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return name


def device_name(device: str) -> str:
    """The GPU's name, or the CPU model with thread and core counts."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'{cpu_model()}, {torch.get_num_threads()} torch threads, ' \
           f'{os.cpu_count()} logical CPUs'


def uses_cudagraphs(mode: str, backend: str = 'inductor') -> bool:
    """Whether ``torch.compile(mode=mode)`` replays CUDA graphs on a GPU
    (``reduce-overhead`` and ``max-autotune``)."""
    if backend != 'inductor':
        return False
    from torch._inductor import list_mode_options
    return bool(list_mode_options(mode).get('triton.cudagraphs', False))


def compile_callable(fn: Callable, mode: str = 'default',
                     backend: str = 'inductor') -> Callable:
    """``torch.compile`` a callable that will be called again and again.

    With CUDA graphs (:func:`uses_cudagraphs`) each call first marks a new
    step (``torch.compiler.cudagraph_mark_step_begin``): a replay writes
    its outputs into the same static buffers as the previous replay, and
    without the mark the graph trees cannot tell whether the previous
    call's outputs are still in use. The outputs of a call are therefore
    valid until the next call only: clone what you keep.

    Args:
        fn (Callable): The callable.
        mode (str): ``torch.compile`` mode (inductor only).
        backend (str): ``torch.compile`` backend. Defaults to inductor.

    Returns:
        Callable: The compiled callable.
    """
    if backend != 'inductor':
        return torch.compile(fn, backend=backend)
    compiled = torch.compile(fn, mode=mode)
    if not uses_cudagraphs(mode, backend):
        return compiled

    @functools.wraps(fn)
    def step(*args, **kwargs):
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(*args, **kwargs)

    return step
