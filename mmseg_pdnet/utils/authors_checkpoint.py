# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The authors' PDNet checkpoints (iCVTEAM/PDNet) in this package's layout.

The authors' training script saves ``{'epoch', 'model', 'optim',
'part_basis_generator'}``, ``model`` being the state dict of their
``PDNet('resnet50' | 'resnet101')`` and ``part_basis_generator`` that of the
part basis (one tensor ``w``, ``(p, 512)``). Their model is ours module for
module; only the names and the IPDA's per-part layout differ:

==========================================  ==================================
theirs                                      ours
==========================================  ==================================
``bkbone.*`` (torchvision ResNet)           ``backbone.backbone.*``
``l{2,3,4,5}_adapt.{0: conv, 1: BN}``       ``backbone.decoder.laterals.{0..3}``
``fuse{2,3,4}.{conv,bn}_{1,2}``             ``backbone.decoder.smooths.{0..2}.{0,1}``
``ipda.sup_adapt{1,2}``                     ``neck.adapter.{0,1}``
``ipda.sup_head`` / ``ipda.part_sep_pred``  ``neck.saliency`` / ``neck.part_head``
``ipda.part_sep_conv.{k}.{conv,bn}_{j}``    ``neck.part_branches.{j-1}``, part k
``ipda.part_{q,k,v}_conv.{k}``              ``neck.attention.{query,key,value}``, part k
``ipda.part_att_conv.{k}``                  ``neck.attention.out``, part k
``spatiotemporal_fusion.*``                 ``decode_head.fusion.*``
``head`` / ``head_{1..4}``                  ``decode_head.conv_seg`` / ``.side_heads.{0..3}``
``part_basis_generator.w``                  ``part_loss.basis`` (training only)
==========================================  ==================================

"part k" means: the authors hold one module per part, we run the p parts
batched (grouped convs, :class:`~mmseg_pdnet.models.necks.IPDA`), so part
k's tensor is block k of ours along the output-channel axis (dim 0). The
BN ``num_batches_tracked`` counters of the p parts become one (part 0's:
all parts run on every forward, and BN with a momentum never reads it).

Everything here is a pure function of state dicts: no model is built.
Refusals raise :class:`~mmseg_pdnet.utils.CheckpointError` with a one-line
message that starts with the file name.
"""
import hashlib
import re
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from .checkpoint import RESNET_PREFIX, CheckpointError, resnet_depth

#: where the layout comes from, recorded in converted checkpoints' meta
AUTHORS_LAYOUT = 'iCVTEAM/PDNet'

_THEIR_BACKBONE = 'bkbone.'
_OUR_BASIS = 'part_loss.basis'
_MODULE_PREFIX = 'module.'



def module_pairs(num_parts: int) -> List[Tuple[str, str, Optional[int]]]:
    """The non-backbone modules of both layouts, in the authors' order.

    Args:
        num_parts (int): The number of IPDA parts p.

    Returns:
        list[tuple]: ``(their module, our module, part)``; ``part`` is k
        for a per-part module of theirs (block k of ours), else None.
    """
    pairs = []
    for level in (5, 4, 3, 2):
        ours = f'backbone.decoder.laterals.{level - 2}'
        pairs += [(f'l{level}_adapt.0', f'{ours}.conv', None),
                  (f'l{level}_adapt.1', f'{ours}.bn', None)]
    for level in (4, 3, 2):
        for j in (1, 2):
            ours = f'backbone.decoder.smooths.{level - 2}.{j - 1}'
            pairs += [(f'fuse{level}.conv_{j}', f'{ours}.conv', None),
                      (f'fuse{level}.bn_{j}', f'{ours}.bn', None)]
    for j in (1, 2):
        pairs += [(f'ipda.sup_adapt{j}.0', f'neck.adapter.{j - 1}.conv', None),
                  (f'ipda.sup_adapt{j}.1', f'neck.adapter.{j - 1}.bn', None)]
    for k in range(num_parts):
        for j in (1, 2, 3):
            ours = f'neck.part_branches.{j - 1}'
            pairs += [(f'ipda.part_sep_conv.{k}.conv_{j}', f'{ours}.conv', k),
                      (f'ipda.part_sep_conv.{k}.bn_{j}', f'{ours}.bn', k)]
    pairs.append(('ipda.sup_head', 'neck.saliency', None))
    for theirs, ours in (('q', 'query'), ('k', 'key'), ('v', 'value')):
        pairs += [(f'ipda.part_{theirs}_conv.{k}', f'neck.attention.{ours}', k)
                  for k in range(num_parts)]
    for k in range(num_parts):
        pairs += [(f'ipda.part_att_conv.{k}.0', 'neck.attention.out.conv', k),
                  (f'ipda.part_att_conv.{k}.1', 'neck.attention.out.bn', k)]
    pairs.append(('ipda.part_sep_pred', 'neck.part_head', None))
    fusion = 'decode_head.fusion'
    pairs += [('spatiotemporal_fusion.conv_t', f'{fusion}.expand.conv', None),
              ('spatiotemporal_fusion.bn_t', f'{fusion}.expand.bn', None),
              ('spatiotemporal_fusion.conv_t1', f'{fusion}.gate', None)]
    for j in (1, 2):
        ours = f'{fusion}.refine.{j - 1}'
        pairs += [(f'spatiotemporal_fusion.conv_{j}', f'{ours}.conv', None),
                  (f'spatiotemporal_fusion.bn_{j}', f'{ours}.bn', None)]
    pairs.append(('head', 'decode_head.conv_seg', None))
    pairs += [(f'head_{j}', f'decode_head.side_heads.{j - 1}', None)
              for j in (1, 2, 3, 4)]
    return pairs


def strip_module_prefix(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Drop the ``module.`` prefix of (DDP-)wrapped models' keys."""
    return OrderedDict(
        (k[len(_MODULE_PREFIX):] if k.startswith(_MODULE_PREFIX) else k, v)
        for k, v in state.items())


def is_authors_state_dict(state: Dict[str, Tensor]) -> bool:
    """Whether a state dict (``module.`` stripped) has the authors' layout:
    a ``bkbone.*`` ResNet and an ``ipda.*`` module."""
    keys = list(state)
    return any(k.startswith(_THEIR_BACKBONE) for k in keys) and \
        any(k.startswith('ipda.') for k in keys)


def is_authors_checkpoint(checkpoint) -> bool:
    """Whether a loaded file is an authors' checkpoint: ``{'model': ...}``
    or a bare state dict, :func:`is_authors_state_dict` once ``module.``
    is stripped."""
    state = checkpoint.get('model', checkpoint) if isinstance(
        checkpoint, dict) else None
    return isinstance(state, dict) and is_authors_state_dict(
        strip_module_prefix(state))


def count_parts(state: Dict[str, Tensor]) -> int:
    """The number of IPDA parts p of an authors' state dict."""
    parts = {int(m[1]) for m in (re.match(r'ipda\.part_sep_conv\.(\d+)\.', k)
                                 for k in state) if m}
    return len(parts)


def split_authors_checkpoint(checkpoint, filename: str
                             ) -> Tuple[Dict[str, Tensor], Optional[Tensor]]:
    """The model weights and the part basis of an authors' checkpoint.

    Accepts every form the authors' code writes or loads: the training
    checkpoint ``{'model': ..., 'part_basis_generator': {'w': ...}, ...}``
    (the other keys are optional), the bare state dict of the model, and
    either with keys prefixed by ``module.``.

    Args:
        checkpoint: The loaded file.
        filename (str): Its name, for the messages.

    Returns:
        tuple: The state dict (``module.`` stripped) and the basis w
        ``(p, 512)`` (None when the file has none).

    Raises:
        CheckpointError: it is not an authors' PDNet checkpoint.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'{filename}: not a PDNet checkpoint (it holds a '
            f'{type(checkpoint).__name__}, not a dict of weights)')
    state = checkpoint.get('model', checkpoint)
    if not isinstance(state, dict):
        raise CheckpointError(f"{filename}: not a PDNet checkpoint ('model' "
                              f'is a {type(state).__name__})')
    state = strip_module_prefix(state)
    if not is_authors_state_dict(state):
        example = next(iter(state), None)
        raise CheckpointError(
            f"{filename}: not a PDNet checkpoint of the authors' layout (no "
            f'bkbone.* and ipda.* weights; first key: {example!r})')
    basis = checkpoint.get('part_basis_generator') if 'model' in checkpoint \
        else None
    if isinstance(basis, dict):
        basis = strip_module_prefix(basis).get('w')
    if basis is not None and not isinstance(basis, Tensor):
        raise CheckpointError(f"{filename}: 'part_basis_generator' holds no "
                              'tensor w')
    return state, basis


def _split_key(key: str) -> Tuple[str, str]:
    module, _, param = key.rpartition('.')
    return module, param


def authors_to_mmseg(state: Dict[str, Tensor],
                     basis: Optional[Tensor] = None,
                     filename: str = '<checkpoint>'
                     ) -> 'OrderedDict[str, Tensor]':
    """Convert the authors' state dict to this package's :class:`PDNet`.

    Args:
        state (dict): The authors' model state dict (``module.`` stripped,
            :func:`split_authors_checkpoint`).
        basis (Tensor, optional): Their part basis w ``(p, 512)``, stored as
            ``part_loss.basis``.
        filename (str): Name of the source, for the messages.

    Returns:
        OrderedDict: Our state dict, in our modules' order.

    Raises:
        CheckpointError: a key matches no module of the authors' model, or
            a per-part module lacks a part.
    """
    num_parts = count_parts(state)
    table = {theirs: (ours, part)
             for theirs, ours, part in module_pairs(num_parts)}
    converted = OrderedDict()
    per_part = defaultdict(dict)  # our key -> {part: tensor}
    leftover = []
    for key, value in state.items():
        if key.startswith(_THEIR_BACKBONE):
            converted[RESNET_PREFIX + key[len(_THEIR_BACKBONE):]] = value
            continue
        module, param = _split_key(key)
        if module not in table:
            leftover.append(key)
            continue
        ours, part = table[module]
        if part is None:
            converted[f'{ours}.{param}'] = value
        else:
            per_part[f'{ours}.{param}'][part] = value
    if leftover:
        raise CheckpointError(
            f"{filename}: {len(leftover)} key(s) of no module of the authors' "
            f'PDNet (e.g. {leftover[0]!r}): refusing to guess their meaning')
    for key, parts in per_part.items():
        if sorted(parts) != list(range(num_parts)):
            missing = sorted(set(range(num_parts)) - set(parts))
            raise CheckpointError(
                f'{filename}: {key} lacks part(s) {missing} of {num_parts}')
        tensors = [parts[k] for k in range(num_parts)]
        converted[key] = tensors[0] if tensors[0].dim() == 0 else \
            torch.cat(tensors, dim=0)
    if basis is not None:
        converted[_OUR_BASIS] = basis
    return converted


def mmseg_to_authors(state: Dict[str, Tensor], filename: str = '<checkpoint>'
                     ) -> Tuple['OrderedDict[str, Tensor]', Optional[Tensor]]:
    """Convert this package's PDNet state dict to the authors' layout.

    The inverse of :func:`authors_to_mmseg`: ``mmseg_to_authors(
    authors_to_mmseg(s, w))`` gives back ``s`` and ``w`` exactly, in the
    authors' key order.

    Args:
        state (dict): Our state dict (``module.`` stripped).
        filename (str): Name of the source, for the messages.

    Returns:
        tuple: The authors' model state dict and the part basis w (None
        when ``state`` has no ``part_loss.basis``).

    Raises:
        CheckpointError: the model has no IPDA (the authors' always has
            one), or keys are missing or left over.
    """
    state = OrderedDict(state)
    basis = state.pop(_OUR_BASIS, None)
    branch = state.get('neck.part_branches.2.conv.weight')
    adapter = state.get('neck.adapter.1.conv.weight')
    if branch is None or adapter is None:
        raise CheckpointError(
            f"{filename}: no IPDA weights (neck.*): the authors' PDNet always "
            'has an IPDA, so this model has no authors\' layout')
    num_parts = branch.shape[0] // adapter.shape[0]
    theirs = OrderedDict()
    for key in [k for k in state if k.startswith(RESNET_PREFIX)]:
        theirs[_THEIR_BACKBONE + key[len(RESNET_PREFIX):]] = state.pop(key)
    params = defaultdict(list)  # our module -> its params, in our order
    for key in state:
        module, param = _split_key(key)
        params[module].append(param)
    for their_module, ours, part in module_pairs(num_parts):
        if ours not in params:
            raise CheckpointError(
                f'{filename}: no weights of {ours} (the authors\' '
                f'{their_module})')
        for param in params[ours]:
            value = state[f'{ours}.{param}']
            if part is None or value.dim() == 0:
                theirs[f'{their_module}.{param}'] = value
                continue
            rows = value.shape[0] // num_parts
            # clone: a saved slice would carry its whole storage along
            theirs[f'{their_module}.{param}'] = \
                value[part * rows:(part + 1) * rows].clone()
    mapped = {ours for _, ours, _ in module_pairs(num_parts)}
    leftover = sorted(m for m in params if m not in mapped)
    if leftover:
        raise CheckpointError(
            f"{filename}: {len(leftover)} module(s) with no counterpart in "
            f"the authors' PDNet (e.g. {leftover[0]!r})")
    return theirs, basis


def sha256sum(filename: str, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(filename, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def convert_authors_checkpoint(checkpoint, filename: str,
                               sha256: Optional[str] = None) -> dict:
    """An authors' checkpoint as an MMEngine checkpoint of this package.

    Args:
        checkpoint: The loaded authors' file (any form of
            :func:`split_authors_checkpoint`).
        filename (str): Its name (messages, ``meta['source']``).
        sha256 (str, optional): Its SHA-256, for ``meta``.

    Returns:
        dict: ``state_dict`` and ``meta`` (``source``, ``source_sha256``,
        ``source_layout``, ``depth``, ``num_parts``, the authors' ``epoch``
        when they saved one). The authors' optimizer state is dropped:
        its two parameter groups are theirs, not this package's runner's.
    """
    state, basis = split_authors_checkpoint(checkpoint, filename)
    meta = dict(
        source=filename,
        source_layout=AUTHORS_LAYOUT,
        depth=resnet_depth(state, _THEIR_BACKBONE),
        num_parts=count_parts(state))
    if sha256 is not None:
        meta['source_sha256'] = sha256
    if isinstance(checkpoint.get('epoch'), int) and 'model' in checkpoint:
        meta['authors_epoch'] = checkpoint['epoch']
    return dict(
        state_dict=authors_to_mmseg(state, basis, filename), meta=meta)


def describe(depth: Optional[int], num_parts: int) -> str:
    """``'PDNet-R50 (p = 5)'``, for messages."""
    encoder = f'R{depth}' if depth else 'unknown encoder'
    return f'PDNet-{encoder} (p = {num_parts})'


def from_authors_layout(checkpoint, filename: str):
    """Convert an authors' checkpoint in memory; leave others as they are.

    What the loaders of this package (:func:`~mmseg_pdnet.utils.
    load_state_dict_checked`, the runners' ``StrictLoadHook``) call, so
    that ``tools/test.py``, ``tools/infer_video.py``, the inferencer, the
    ONNX export and ``load_from`` take the authors' file as it is. A
    conversion is said in one log line.

    Args:
        checkpoint: A loaded checkpoint of either layout.
        filename (str): Its name, for the log line and the messages.

    Returns:
        The converted checkpoint (:func:`convert_authors_checkpoint`) when
        ``checkpoint`` has the authors' layout, else ``checkpoint`` itself.
    """
    if not is_authors_checkpoint(checkpoint):
        return checkpoint
    num_theirs = len(checkpoint.get('model', checkpoint))
    converted = convert_authors_checkpoint(checkpoint, filename)
    meta = converted['meta']
    print_log(
        f"{filename}: the authors' {describe(meta['depth'], meta['num_parts'])}"
        f' checkpoint ({AUTHORS_LAYOUT} layout), converted in memory: '
        f"{num_theirs} tensors to {len(converted['state_dict'])} of this "
        "package's layout (tools/model_converters/pdnet2mmseg.py saves "
        'the conversion)',
        logger='current')
    return converted
