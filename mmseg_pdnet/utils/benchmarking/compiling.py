# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""``torch.compile`` for callables that are timed again and again."""
import functools
from typing import Callable

import torch


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
