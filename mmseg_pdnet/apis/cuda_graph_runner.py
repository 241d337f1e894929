# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Replay the per-frame forward of the streaming inferencer as a CUDA graph.

A CUDA graph records the kernels of one forward once and replays them with
a single launch, which removes the per-kernel CPU launch overhead that
dominates small-batch streaming. A graph reads and writes FIXED memory: the
target frame is copied into a static input buffer before every replay, and
the cached reference (IPDA keys/values) lives in static buffers that are
overwritten IN PLACE (``copy_``) whenever the reference changes, so the
graph always reads the current reference without being re-captured. See
the "CUDA Graphs" section of PyTorch's CUDA semantics notes, whose recipe
(warm-up on a side stream, then ``torch.cuda.graph``) is followed here.
"""
from typing import Callable, Dict, Hashable, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

TensorDict = Dict[str, Tensor]


class StaticReferenceCache:
    """Static buffers holding a reference cache, refreshed in place.

    The first :meth:`update` allocates one buffer per cache entry; later
    updates with the same keys, shapes, dtypes and devices copy into those
    buffers, so their memory (what a captured graph reads) never moves. Any
    other cache reallocates them, and :meth:`update` says so: a graph
    captured on the old buffers must then be captured again.
    """

    def __init__(self):
        self.buffers: Optional[TensorDict] = None

    @staticmethod
    def _layout(cache: TensorDict) -> Tuple:
        return tuple(sorted((k, tuple(v.shape), v.dtype, v.device)
                            for k, v in cache.items()))

    def update(self, cache: TensorDict) -> bool:
        """Make the buffers hold ``cache``.

        Args:
            cache (dict[str, Tensor]): A reference cache (e.g. the output
                of :meth:`PDNet.encode_reference`).

        Returns:
            bool: True when the buffers were (re)allocated (a graph reading
            the previous buffers is stale), False when refreshed in place.
        """
        if self.buffers is not None and \
                self._layout(self.buffers) == self._layout(cache):
            for key, value in cache.items():
                self.buffers[key].copy_(value)
            return False
        # clone: the caller's tensors may be freed or reused by the caller
        self.buffers = {k: v.clone() for k, v in cache.items()}
        return True


class CUDAGraphRunner:
    """Run ``fn(x, reference, **consts)`` by replaying a CUDA graph.

    The graph is captured on the first call, and again whenever the input's
    shape, dtype or device, a constant of ``consts`` (e.g. the output
    size), or the layout of the reference changes. Between captures
    every call copies ``x`` into the static input and replays.

    Args:
        fn (callable): ``fn(x, reference, **consts) -> dict[str, Tensor]``.
            It must read ``x`` and the ``reference`` dict only (both are the
            static buffers while capturing), and must not synchronise with
            the host (no ``.item()``, no ``.cpu()``).
        warmup_iters (int): Eager calls on a side stream before capturing,
            so lazy initialisation (cuDNN/cuBLAS handles, autotuning,
            allocator growth) happens outside the graph. Defaults to 3, as
            PyTorch's example.
    """

    def __init__(self, fn: Callable[..., TensorDict], warmup_iters: int = 3):
        self.fn = fn
        self.warmup_iters = warmup_iters
        self.reference = StaticReferenceCache()
        self.num_captures = 0
        self._key: Optional[Hashable] = None
        self._static_x: Optional[Tensor] = None
        self._consts: dict = {}
        self._graph = None
        self._outputs: Optional[TensorDict] = None

    def set_reference(self, cache: TensorDict) -> None:
        """Copy a new reference into the static buffers.

        In place when its layout is unchanged (the captured graph then reads
        the new reference at its next replay); otherwise the buffers are
        reallocated and the next call captures again.

        Args:
            cache (dict[str, Tensor]): The reference cache.
        """
        if self.reference.update(cache):
            self._release()

    def __call__(self, x: Tensor, **consts) -> TensorDict:
        """Replay on a new input.

        Args:
            x (Tensor): The input (copied into the static input buffer).
            **consts: Hashable Python values ``fn`` takes as constants; a
                new value captures a new graph.

        Returns:
            dict[str, Tensor]: The graph's static outputs. They are
            overwritten by the next call: copy what must be kept.
        """
        if self.reference.buffers is None:
            raise RuntimeError('CUDAGraphRunner: set_reference() must be '
                               'called before the first frame')
        key = (tuple(x.shape), x.dtype, x.device,
               tuple(sorted(consts.items())))
        if key != self._key:
            self._capture(x, consts, key)
        self._static_x.copy_(x)
        self._replay()
        return self._outputs

    def _release(self) -> None:
        """Drop the graph and its outputs (their memory pool is freed)."""
        self._graph = self._outputs = self._static_x = None
        self._key = None

    def _capture(self, x: Tensor, consts: dict, key: Hashable) -> None:
        self._release()
        # x's layout when it is dense (channels_last stays channels_last);
        # copy_ writes any later layout into it
        self._static_x = torch.empty_like(x)
        # real data while warming up and capturing: no NaN paths, and the
        # same kernels as the frames that follow
        self._static_x.copy_(x)
        self._consts = dict(consts)
        self._outputs = self._record()
        self._key = key
        self.num_captures += 1
        print_log(f'CUDAGraphRunner: captured a graph for input '
                  f'{tuple(x.shape)} {x.dtype}, constants {self._consts}',
                  logger='current')

    def _run_static(self) -> TensorDict:
        return self.fn(self._static_x, self.reference.buffers,
                       **self._consts)

    def _record(self) -> TensorDict:
        """Warm up on a side stream, then capture one call.

        Returns:
            dict[str, Tensor]: The outputs, in the graph's memory pool.
        """
        device = self._static_x.device
        current = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            for _ in range(self.warmup_iters):
                self._run_static()
        current.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(device), torch.cuda.graph(graph):
            outputs = self._run_static()
        self._graph = graph
        return outputs

    def _replay(self) -> None:
        # capturing does not run the kernels: the first frame is replayed
        # like the others
        self._graph.replay()
