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

Every local checkpoint read through MMEngine goes through that allow-list
(:func:`load_from_local_checked` is MMEngine's loader of local paths once
this package is imported). :func:`load_state_dict_checked` loads a
checkpoint into a model (the inferencer); it refuses one whose keys or
shapes do not fit the model (:func:`match_state_dict`, which the tools'
runners apply through ``StrictLoadHook``) unless partial loading is asked
for on purpose. Refusals of all kinds raise one :class:`CheckpointError`
whose message is one line naming the file, for the tools to print as is.
"""
import builtins
import logging
import os.path as osp
import pickle
import re
from collections import defaultdict
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
from torch import nn

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


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: refused, unreadable or not fitting.

    The message is one line that starts with the file name.
    """


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (also a FileNotFoundError)."""


# torch's "Weights only load failed" text suggests weights_only=False: the
# one thing not to do with a file that tries to run code. Keep its reason.
_TORCH_BOILERPLATE = ('Weights only load failed', 'Check the documentation',
                      'Please file an issue', '(1)', '(2)')


def _refusal_reason(err: Exception) -> str:
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(err))
    found = re.search(r'GLOBAL ([\w.]+)', text)
    if found:
        return f'unsupported global {found.group(1)}'
    for line in (line.strip() for line in text.splitlines()):
        if line and not line.startswith(_TORCH_BOILERPLATE):
            line = re.sub(r'^WeightsUnpickler error:\s*', '', line)
            if line:
                return line[:200]
    return type(err).__name__


def _first_sentence(err: Exception) -> str:
    text = str(err).strip()
    text = text.splitlines()[0].split('. ')[0].rstrip('.') if text else ''
    return f'{type(err).__name__}: {text[:200]}' if text else \
        type(err).__name__


def load_from_local_checked(filename: str, map_location=None) -> dict:
    """MMEngine's local checkpoint loader with one-line errors.

    Registered as MMEngine's loader of local paths, so the runner
    (``load_from``, ``resume``) and :func:`mmengine.runner.load_checkpoint`
    read local files through it.

    Args:
        filename (str): Local checkpoint path.
        map_location (str, optional): Same as :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        CheckpointNotFoundError: the file does not exist.
        CheckpointError: the file holds a global outside the allow-list
            (e.g. a pickled ``os.system`` call; nothing from it was
            executed), or torch cannot load it (truncated, corrupt, not a
            checkpoint).
    """
    if not osp.isfile(osp.expanduser(filename)):
        raise CheckpointNotFoundError(
            f'{filename}: checkpoint does not exist')
    try:
        return load_from_local(filename, map_location)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' in str(err):
            raise CheckpointError(
                f'{filename}: refused: it would run code when unpickled '
                f'({_refusal_reason(err)})') from None
        raise CheckpointError(f'{filename}: not a loadable checkpoint '
                              f'({_first_sentence(err)})') from err
    except Exception as err:  # truncated zip, garbage pickle, ...
        raise CheckpointError(f'{filename}: not a loadable checkpoint '
                              f'({_first_sentence(err)})') from err


def load_checkpoint_file(filename: str, map_location='cpu') -> dict:
    """Read a checkpoint (local path or URL scheme) through the allow-list.

    Args:
        filename (str): Local path, ``http(s)://``, ``torchvision://``...
        map_location (str, optional): Same as :func:`torch.load`.
            Defaults to ``'cpu'``.

    Returns:
        dict: The checkpoint.
    """
    register_safe_checkpoint_globals()
    return CheckpointLoader.load_checkpoint(filename, map_location,
                                            logger='silent')


#: training-only parameters (the part basis of the part loss): models built
#: for inference have none, checkpoints of such models lack them
OPTIONAL_PREFIXES = ('part_loss.', )


def get_state_dict(checkpoint: dict, filename: str) -> dict:
    """The weights of a checkpoint (``checkpoint['state_dict']``, or the
    checkpoint itself when it is a bare state dict).

    Args:
        checkpoint (dict): A loaded checkpoint.
        filename (str): Its name, for the message.

    Returns:
        dict: The state dict (the checkpoint's own object).
    """
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f'{filename}: no state_dict in the checkpoint')
    return state


#: ResNet block counts per stage, Bottleneck or not -> depth
_RESNET_DEPTHS = {
    ((2, 2, 2, 2), False): 18,
    ((3, 4, 6, 3), False): 34,
    ((3, 4, 6, 3), True): 50,
    ((3, 4, 23, 3), True): 101,
    ((3, 8, 36, 3), True): 152,
}

#: where PDNet's ResNet sits in this package's state dicts
RESNET_PREFIX = 'backbone.backbone.'


def resnet_depth(keys: Iterable[str],
                 prefix: str = RESNET_PREFIX) -> Optional[int]:
    """The depth of the ResNet whose keys start with ``prefix``.

    Args:
        keys (Iterable[str]): State dict keys.
        prefix (str): e.g. ``'backbone.backbone.'`` (ours, the default) or
            ``'bkbone.'`` (the authors').

    Returns:
        int, optional: 18, 34, 50, 101 or 152; None when the keys hold no
        ResNet of these depths.
    """
    blocks = defaultdict(set)
    bottleneck = False
    pattern = re.compile(re.escape(prefix) + r'layer([1-4])\.(\d+)\.(\w+)\.')
    for key in keys:
        found = pattern.match(key)
        if found:
            blocks[int(found[1])].add(int(found[2]))
            bottleneck |= found[3] == 'conv3'
    counts = tuple(len(blocks[stage]) for stage in (1, 2, 3, 4))
    return _RESNET_DEPTHS.get((counts, bottleneck))


def _depth_hint(model_keys: Iterable[str], state_keys: Iterable[str]) -> str:
    """' (a ResNet-101 checkpoint, a ResNet-50 model)' or ''."""
    theirs, ours = resnet_depth(state_keys), resnet_depth(model_keys)
    if theirs and ours and theirs != ours:
        return (f' (a ResNet-{theirs} checkpoint, a ResNet-{ours} model: '
                f'use the R{theirs} config)')
    return ''


def _shape(value: Any) -> Optional[tuple]:
    shape = getattr(value, 'shape', None)
    return None if shape is None else tuple(shape)


def upgrade_state_dict(model: nn.Module, state_dict: dict) -> dict:
    """Convert weights of an earlier layout of the model's modules.

    Every sub-module with an ``upgrade_state_dict(state_dict, prefix)``
    method (e.g. :class:`IPDA`, whose parts became batched) converts its
    own keys, in place; ``load_state_dict`` does the same through the
    modules' ``_load_from_state_dict``, but the keys must be compared
    before that.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): Its weights, keys without ``module.``.

    Returns:
        dict: ``state_dict``.
    """
    for name, module in model.named_modules():
        upgrade = getattr(module, 'upgrade_state_dict', None)
        if callable(upgrade):
            upgrade(state_dict, f'{name}.' if name else '')
    return state_dict


def match_state_dict(model: nn.Module,
                     state_dict: Dict[str, torch.Tensor],
                     filename: str,
                     config: Optional[str] = None,
                     strict: bool = True) -> Dict[str, torch.Tensor]:
    """Compare a state dict with a model's; refuse or trim what differs.

    ``module.`` prefixes (DDP) are stripped and weights of an earlier
    module layout converted (:func:`upgrade_state_dict`). Keys under
    :data:`OPTIONAL_PREFIXES` may be missing from either side.

    Args:
        model (nn.Module): The model to load into (not a DDP wrapper).
        state_dict (dict): The checkpoint's weights.
        filename (str): The checkpoint's name, for the message.
        config (str, optional): The config the model was built from, for
            the message.
        strict (bool): Raise on missing, unexpected or shape-mismatched
            keys. Otherwise log them and return only the keys that fit.
            Defaults to True.

    Returns:
        dict: The weights to load (``strict=True``: all of them, less the
        optional keys the model lacks).

    Raises:
        CheckpointError: ``strict`` and the keys or shapes differ.
    """
    state = upgrade_state_dict(
        model, {k[len('module.'):] if k.startswith('module.') else k: v
                for k, v in state_dict.items()})
    own = model.state_dict()
    missing = sorted(k for k in own.keys() - state.keys()
                     if not k.startswith(OPTIONAL_PREFIXES))
    unexpected = sorted(k for k in state.keys() - own.keys()
                        if not k.startswith(OPTIONAL_PREFIXES))
    mismatched = sorted(k for k in own.keys() & state.keys()
                        if _shape(own[k]) != _shape(state[k]))
    if missing or unexpected or mismatched:
        details = []
        for name, keys in (('missing', missing), ('unexpected', unexpected),
                           ('shape-mismatched', mismatched)):
            if not keys:
                continue
            k = keys[0]
            example = k if name != 'shape-mismatched' else (
                f'{k}: {_shape(state[k])} in the checkpoint, '
                f'{_shape(own[k])} in the model')
            details.append(f'{len(keys)} {name} (e.g. {example})')
        target = config or f'the {type(model).__name__} model'
        if strict:
            raise CheckpointError(
                f'{filename}: checkpoint does not match {target}'
                f'{_depth_hint(own, state)}: ' + ', '.join(details))
        print_log(
            f'{filename}: loading it partially into {target} on purpose: '
            'skipped ' + ', '.join(details) + '; missing and skipped weights '
            'keep their initial values', logger='current',
            level=logging.WARNING)
    skip = set(mismatched) | (state.keys() - own.keys())
    return {k: v for k, v in state.items() if k not in skip}


def load_state_dict_checked(model: nn.Module,
                            checkpoint: Union[str, dict],
                            config: Optional[str] = None,
                            strict: bool = True,
                            map_location='cpu',
                            filename: Optional[str] = None) -> dict:
    """Load a checkpoint into a model, safely and (by default) strictly.

    The file is read through the allow-list (a pickle that would run code
    is refused), and its weights must fit the model: same keys, same
    shapes, except the training-only ``part_loss.*`` keys
    (:func:`match_state_dict`). A checkpoint of the authors' code
    (iCVTEAM/PDNet) is converted in memory first, with one log line
    (:func:`~mmseg_pdnet.utils.authors_checkpoint.from_authors_layout`).

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped).
        checkpoint (str | dict): A checkpoint file (or URL), or an already
            loaded checkpoint.
        config (str, optional): The config the model was built from, named
            in the error message.
        strict (bool): Refuse a checkpoint that does not fit. With False,
            load the weights that fit and log what was skipped. Defaults to
            True.
        map_location (str): Same as :func:`torch.load`. Defaults to
            ``'cpu'``.
        filename (str, optional): The name of a ``checkpoint`` dict, for the
            messages.

    Returns:
        dict: The checkpoint (``meta`` etc. included).

    Raises:
        CheckpointError: the file does not exist, is refused, unreadable or
            does not fit the model.
    """
    # here, not at the top: authors_checkpoint imports this module
    from .authors_checkpoint import from_authors_layout
    if isinstance(checkpoint, str):
        filename = filename or checkpoint
        checkpoint = load_checkpoint_file(checkpoint, map_location)
    filename = filename or '<checkpoint>'
    checkpoint = from_authors_layout(checkpoint, filename)
    if is_model_wrapper(model):
        model = model.module
    weights = match_state_dict(model, get_state_dict(checkpoint, filename),
                               filename, config, strict)
    model.load_state_dict(weights, strict=False)
    return checkpoint


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
