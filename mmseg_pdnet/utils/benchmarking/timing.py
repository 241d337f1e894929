# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Wall-clock timing of repeated calls: device synchronisation, interleaved
timed rounds and their summary statistics."""
import statistics
import time
from typing import Callable, Dict, List

import torch


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
