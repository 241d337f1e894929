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
import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

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
    # np.dtype(...) rebuilds an instance of its numpy >= 1.25 class
    # (np.dtypes.Float64DType, ...), and torch's BUILD step only sets the
    # state of allow-listed types. The classes are inert: they run no code.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    return safe


def load_from_local_checked(filename: str, map_location=None) -> dict:
    """MMEngine's local checkpoint loader, naming the file when it refuses.

    Args:
        filename (str): Local checkpoint path.
        map_location (str, optional): Same as :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        pickle.UnpicklingError: when the file holds a global outside the
            allow-list (e.g. a pickled ``os.system`` call); nothing from it
            was executed.
    """
    try:
        return load_from_local(filename, map_location)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f'refusing to load checkpoint {filename}: it holds objects that '
            'MMEngine checkpoints do not contain (possibly code to run); '
            'nothing from it was executed. Only load it with '
            f'weights_only=False if you trust its source.\n{err}') from err


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
        # local paths ('' prefix): same loading, errors name the file
        CheckpointLoader.register_scheme(
            prefixes='', loader=load_from_local_checked, force=True)
        _registered = True
    return True
