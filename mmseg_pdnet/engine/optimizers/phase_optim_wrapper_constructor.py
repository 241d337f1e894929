# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmseg.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                            OPTIMIZERS)

# keys of a phase config that select and scale parameters; the rest of the
# phase config goes to the optimizer wrapper (clip_grad, loss_scale, ...)
_PARAM_KEYS = ('params', 'lr_mult', 'default_lr_mult')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PhaseOptimWrapperConstructor:
    """Builds one optimizer wrapper per training phase (``OptimWrapperDict``).

    PDNet's alternating training (REFERENCE.md section 3) steps two SGD
    optimizers: video steps update everything, the backbone at 0.01 x and
    the rest at 10 x the base lr; image steps update the backbone only, at
    the base lr. Example::

        optim_wrapper = dict(
            constructor='PhaseOptimWrapperConstructor',
            video=dict(
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                               weight_decay=5e-4),
                lr_mult={'backbone.backbone': 0.01},
                default_lr_mult=10.0),
            image=dict(
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                               weight_decay=5e-4),
                params=['backbone.backbone']))

    Per phase:

    - ``params`` (list[str], optional): module prefixes (dotted names in
      the unwrapped model) whose parameters this phase updates; None means
      every trainable parameter.
    - ``lr_mult`` (dict[str, float], optional): lr multiplier per module
      prefix; the longest matching prefix wins.
    - ``default_lr_mult`` (float): multiplier of parameters no prefix of
      ``lr_mult`` matches. Defaults to 1.
    - every other key (``type``, ``optimizer``, ``clip_grad``,
      ``loss_scale``, ``accumulative_counts``, ...) builds the wrapper.

    Parameters with ``requires_grad=False`` (e.g. the frozen ResNet-18 of
    the semantic loss) are left out. Parameters are grouped by multiplier;
    each group's ``lr`` is ``optimizer.lr * multiplier``.

    Args:
        optim_wrapper_cfg (dict): ``{phase: phase config}``.
        paramwise_cfg (dict, optional): Not supported (use ``lr_mult``);
            must be None.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if paramwise_cfg is not None:
            raise ValueError('PhaseOptimWrapperConstructor takes lr_mult / '
                             'default_lr_mult per phase, not paramwise_cfg')
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise TypeError('optim_wrapper must map phase names to wrapper '
                            f'configs, got {optim_wrapper_cfg!r}')
        for phase, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ValueError(f'optim_wrapper.{phase} must be a dict with '
                                 f'an "optimizer", got {cfg!r}')
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)

    @staticmethod
    def _match(name: str, prefixes: Sequence[str]) -> Optional[str]:
        """Longest prefix that ``name`` lies under (module boundary)."""
        hits = [p for p in prefixes if name == p or name.startswith(p + '.')]
        return max(hits, key=len) if hits else None

    def param_groups(self, model: nn.Module, cfg: dict) -> List[Dict]:
        """Parameter groups (one per multiplier) of one phase."""
        base_lr = cfg['optimizer'].get('lr')
        if base_lr is None:
            raise ValueError(f'optimizer config {cfg["optimizer"]} has no lr')
        select = cfg.get('params')
        if isinstance(select, str):
            select = [select]
        lr_mult = cfg.get('lr_mult') or {}
        default_mult = float(cfg.get('default_lr_mult', 1.0))
        modules = dict(model.named_modules())
        for prefix in list(select or []) + list(lr_mult):
            if prefix not in modules:
                raise KeyError(f'no module named {prefix!r} in '
                               f'{type(model).__name__} (params / lr_mult)')
        groups: Dict[float, List[nn.Parameter]] = OrderedDict()
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            if select is not None and self._match(name, select) is None:
                continue
            key = self._match(name, list(lr_mult))
            mult = float(lr_mult[key]) if key is not None else default_mult
            groups.setdefault(mult, []).append(param)
        if not groups:
            raise ValueError(f'no trainable parameter selected by {select}')
        return [dict(params=p, lr=base_lr * m, lr_mult=m)
                for m, p in groups.items()]

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        if is_model_wrapper(model):
            model = model.module
        wrappers = OrderedDict()
        for phase, cfg in self.optim_wrapper_cfg.items():
            cfg = copy.deepcopy(cfg)
            optimizer = OPTIMIZERS.build(
                dict(cfg['optimizer'], params=self.param_groups(model, cfg)))
            wrapper_cfg = {
                k: v for k, v in cfg.items()
                if k not in _PARAM_KEYS and k != 'optimizer'
            }
            wrapper_cfg.setdefault('type', 'OptimWrapper')
            wrappers[phase] = OPTIM_WRAPPERS.build(
                wrapper_cfg, default_args=dict(optimizer=optimizer))
        return OptimWrapperDict(**wrappers)
