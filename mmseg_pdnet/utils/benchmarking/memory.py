# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Peak memory that torch allocates during a call (CUDA allocator
statistics, or the CPU profiler's allocation events)."""
from typing import Callable

import torch

from .timing import synchronize

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
