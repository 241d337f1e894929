# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmseg.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                            OPTIMIZERS)

#: name of the parameter group that takes every parameter no prefix claims
OTHERS = 'others'


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PhaseOptimWrapperConstructor:
    """ONE optimizer whose parameter groups get a learning-rate multiplier
    per training phase, as in the PDNet authors' alternating training.

    The authors step one SGD (one momentum buffer per parameter, one
    GradScaler under AMP) with two parameter groups, ``[backbone]`` and
    ``[everything else, part basis included]``. Image steps use the group
    lrs ``(base, 0)``, video steps ``(0.01 x base, 10 x base)``
    (docs/fidelity.md). The group at lr 0 is still stepped: its momentum
    buffer and weight-decay term take the image gradients and apply them
    on the following video steps. Example::

        optim_wrapper = dict(
            type='OptimWrapper',  # or AmpOptimWrapper: one loss scaler
            optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                           weight_decay=5e-4),
            constructor='PhaseOptimWrapperConstructor',
            paramwise_cfg=dict(
                groups=dict(backbone=['backbone.backbone']),
                phase_lr_mult=dict(
                    image=dict(backbone=1.0, others=0.0),
                    video=dict(backbone=0.01, others=10.0))))

    ``paramwise_cfg``:

    - ``groups`` (dict[str, list[str]]): group name -> module prefixes
      (dotted names in the unwrapped model). Groups are built in this
      order; a parameter goes to the group of its longest matching prefix,
      and the parameters no prefix matches form the last group,
      ``'others'``.
    - ``phase_lr_mult`` (dict[str, dict[str, float]], optional): phase ->
      group -> lr multiplier. Every phase must name every group.

    Each group's ``lr`` is the optimizer's base lr (what the parameter
    schedulers decay); the multipliers are stored in the group as
    ``phase_lr_mult`` and applied by :class:`AlternatingImageVideoLoop`
    around each step (:func:`apply_phase_lr`). Without ``paramwise_cfg``
    there is one group and no multiplier (every phase at the base lr).
    Parameters with ``requires_grad=False`` (e.g. the frozen ResNet-18 of
    the semantic loss) are left out.

    Why not MMEngine's :class:`~mmengine.optim.DefaultOptimWrapperConstructor`
    with ``paramwise_cfg.custom_keys``: it makes ONE parameter group PER
    parameter (hundreds for PDNet), so the optimizer would no longer have
    the authors' two groups: checkpoints saved with the two groups would
    not load into it (``Optimizer.load_state_dict`` needs the same
    groups), and the group names that :func:`apply_phase_lr` reports would
    be gone. Its keys match as substrings (``'backbone'`` also matches
    ``'siamese_backbone.x'`` and ``'backbone2.x'``) where ``groups`` match
    module prefixes, and without ``paramwise_cfg`` it hands the frozen
    parameters to the optimizer too. Overriding its ``add_params``
    (matching), its ``__call__`` (frozen parameters) and merging its groups
    afterwards would leave nothing of it, so this is a constructor of its
    own. It keeps MMEngine's constructor protocol (built with
    ``optim_wrapper_cfg`` and ``paramwise_cfg``, called with the model,
    registered in ``OPTIM_WRAPPER_CONSTRUCTORS``), unwraps model wrappers
    (:func:`~mmengine.model.is_model_wrapper`) and builds the optimizer and
    the wrapper from the ``OPTIMIZERS`` and ``OPTIM_WRAPPERS`` registries
    as the default constructor does (``type`` defaults to
    ``'OptimWrapper'``).

    Args:
        optim_wrapper_cfg (dict): The wrapper config (``type``,
            ``optimizer``, ``clip_grad``, ``loss_scale``, ...).
        paramwise_cfg (dict, optional): ``groups`` and ``phase_lr_mult``.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if not isinstance(optim_wrapper_cfg, dict) or \
                'optimizer' not in optim_wrapper_cfg:
            raise ValueError('optim_wrapper must be one wrapper config with '
                             'an "optimizer" (PDNet trains every phase with '
                             f'one optimizer), got {optim_wrapper_cfg!r}')
        if optim_wrapper_cfg['optimizer'].get('lr') is None:
            raise ValueError(f'optimizer config '
                             f'{optim_wrapper_cfg["optimizer"]} has no lr')
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - {'groups', 'phase_lr_mult'}
        if unknown:
            raise ValueError(f'paramwise_cfg keys {sorted(unknown)} are not '
                             "supported (use 'groups' and 'phase_lr_mult')")
        groups = OrderedDict(
            (name, [prefixes] if isinstance(prefixes, str) else
             list(prefixes))
            for name, prefixes in (paramwise_cfg.get('groups') or {}).items())
        if OTHERS in groups:
            raise ValueError(f'group name {OTHERS!r} is reserved for the '
                             'parameters no prefix matches')
        names = list(groups) + [OTHERS]
        phase_lr_mult = paramwise_cfg.get('phase_lr_mult') or {}
        for phase, mults in phase_lr_mult.items():
            if set(mults) != set(names):
                raise ValueError(
                    f'phase_lr_mult.{phase} must give a multiplier for '
                    f'every group {names}, got {sorted(mults)}')
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        self.groups = groups
        self.phase_lr_mult = {
            phase: {g: float(m) for g, m in mults.items()}
            for phase, mults in phase_lr_mult.items()
        }

    @staticmethod
    def _match(name: str, prefixes: Sequence[str]) -> Optional[str]:
        """Longest prefix that ``name`` lies under (module boundary)."""
        hits = [p for p in prefixes if name == p or name.startswith(p + '.')]
        return max(hits, key=len) if hits else None

    def param_groups(self, model: nn.Module) -> List[Dict]:
        """The optimizer's parameter groups, in ``groups`` order.

        Returns:
            list[dict]: ``params``, ``lr`` (the base lr), ``name`` and, with
            ``phase_lr_mult``, the group's ``phase_lr_mult``
            (phase -> multiplier). Empty groups are dropped.
        """
        base_lr = self.optim_wrapper_cfg['optimizer']['lr']
        modules = dict(model.named_modules())
        owner = {}
        for group, prefixes in self.groups.items():
            for prefix in prefixes:
                if prefix not in modules:
                    raise KeyError(f'no module named {prefix!r} in '
                                   f'{type(model).__name__} '
                                   f'(paramwise_cfg.groups.{group})')
                owner[prefix] = group
        members: Dict[str, List[nn.Parameter]] = OrderedDict(
            (g, []) for g in list(self.groups) + [OTHERS])
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            prefix = self._match(name, list(owner))
            members[owner[prefix] if prefix else OTHERS].append(param)
        out = []
        for group, params in members.items():
            if not params:
                continue
            entry = dict(params=params, lr=base_lr, name=group)
            if self.phase_lr_mult:
                entry['phase_lr_mult'] = {
                    phase: mults[group]
                    for phase, mults in self.phase_lr_mult.items()
                }
            out.append(entry)
        if not out:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter')
        return out

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper of ``model``.

        Args:
            model (nn.Module): The model, possibly wrapped (DDP, ...).

        Returns:
            OptimWrapper: The wrapper of the ONE optimizer, built with
            :meth:`param_groups`.
        """
        if is_model_wrapper(model):
            model = model.module
        cfg = copy.deepcopy(self.optim_wrapper_cfg)
        optimizer = OPTIMIZERS.build(
            dict(cfg.pop('optimizer'), params=self.param_groups(model)))
        cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            cfg, default_args=dict(optimizer=optimizer))


def apply_phase_lr(optimizer, phase: str) -> List[float]:
    """Scale every group's lr by its ``phase_lr_mult[phase]``.

    Groups without ``phase_lr_mult`` keep their lr.

    Args:
        optimizer (torch.optim.Optimizer): The optimizer.
        phase (str): ``'image'`` or ``'video'``.

    Returns:
        list[float]: the scheduled lrs before scaling, for
        :func:`restore_lr`.
    """
    saved = [group['lr'] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        mults = group.get('phase_lr_mult')
        if mults is None:
            continue
        if phase not in mults:
            raise KeyError(f'parameter group {group.get("name")!r} has no '
                           f'lr multiplier for phase {phase!r} '
                           f'(phase_lr_mult has {sorted(mults)})')
        group['lr'] = group['lr'] * mults[phase]
    return saved


def restore_lr(optimizer, saved: Sequence[float]) -> None:
    """Put back the scheduled lrs saved by :func:`apply_phase_lr`."""
    for group, lr in zip(optimizer.param_groups, saved):
        group['lr'] = lr
