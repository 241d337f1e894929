# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Load MMEngine checkpoints under torch >= 2.6 without unsafe unpickling.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and only
rebuilds allow-listed globals. MMEngine 0.10.7 runner checkpoints hold, in
``message_hub``, :class:`HistoryBuffer` objects whose pickle stores its
statistic methods as ``getattr(HistoryBuffer, 'min' | 'max' | 'current' |
'mean')``, plus numpy arrays and scalars. We allow-list exactly those types.

``builtins.getattr`` itself must NOT be allowed (``getattr(os, 'system')``
is the classic payload). Instead, a narrow stand-in is registered under the
name ``builtins.getattr`` (``add_safe_globals`` accepts a ``(function,
"module.name")`` pair): it resolves only the four HistoryBuffer statistics
and refuses everything else.
"""
import builtins
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

_registered = False


def history_buffer_getattr(obj: Any, name: str, *default: Any) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling checkpoints.

    Args:
        obj: The object the pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        The HistoryBuffer statistic method ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return builtins.getattr(HistoryBuffer, name)
    import pickle
    raise pickle.UnpicklingError(
        f'refusing getattr({getattr(obj, "__name__", type(obj).__name__)!s},'
        f' {name!r}) in a checkpoint: only HistoryBuffer statistics '
        f'{HISTORY_BUFFER_STATISTICS} are allowed')


def _numpy_globals() -> list:
    multiarray = getattr(np, '_core', None) or np.core
    safe = [
        multiarray.multiarray._reconstruct, multiarray.multiarray.scalar,
        np.ndarray, np.dtype
    ]
    # numpy >= 1.25 pickles dtypes through their classes (np.dtypes.*)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    return safe


def register_safe_checkpoint_globals() -> bool:
    """Allow-list what MMEngine writes into checkpoints (idempotent).

    Returns:
        bool: True when the allow-list is active, False on torch versions
        without ``torch.serialization.add_safe_globals`` (< 2.4), where
        nothing needs to be done.
    """
    global _registered
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    if not _registered:
        import _codecs
        add_safe_globals([
            HistoryBuffer, _codecs.encode, bytes, *_numpy_globals(),
            (history_buffer_getattr, 'builtins.getattr'),
            (history_buffer_getattr, '__builtin__.getattr'),
        ])
        _registered = True
    return True
