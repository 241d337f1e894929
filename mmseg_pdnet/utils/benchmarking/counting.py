# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""What a call runs, counted deterministically: FLOPs
(``torch.utils.flop_counter``) and aten operators (views excluded), a
proxy for the number of kernel launches, which bounds the speed of
small-batch GPU work."""
from collections import Counter
from typing import Callable, Tuple

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
