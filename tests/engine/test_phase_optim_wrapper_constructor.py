import pytest
import torch
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from mmseg_pdnet.engine.optimizers import (PhaseOptimWrapperConstructor,
                                           apply_phase_lr, restore_lr)
from tests.helpers import PAPER_CONFIG, tiny_model_cfg
from .conftest import BASE_LR, PHASE_OPTIM
from .toy import ToySegmentor


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmseg')


def test_one_optimizer_two_groups_with_phase_multipliers():
    model = ToySegmentor()
    model.frozen = nn.Linear(1, 1).requires_grad_(False)
    wrapper = build_optim_wrapper(model, PHASE_OPTIM)
    assert type(wrapper) is OptimWrapper
    backbone, others = wrapper.optimizer.param_groups
    assert backbone['name'] == 'backbone' and others['name'] == 'others'
    assert backbone['params'] == list(model.backbone.backbone.parameters())
    assert others['params'] == [
        model.backbone.decoder.weight, model.backbone.decoder.bias,
        model.head.weight, model.head.bias
    ]  # the frozen layer is in no group
    for g in (backbone, others):
        assert g['lr'] == BASE_LR  # the schedulers decay this one
        assert g['momentum'] == 0.9 and g['weight_decay'] == 5e-4
    assert backbone['phase_lr_mult'] == dict(image=1.0, video=0.01)
    assert others['phase_lr_mult'] == dict(image=0.0, video=10.0)


def test_apply_and_restore_phase_lr():
    wrapper = build_optim_wrapper(ToySegmentor(), PHASE_OPTIM)
    optimizer = wrapper.optimizer
    saved = apply_phase_lr(optimizer, 'video')
    assert [g['lr'] for g in optimizer.param_groups] == pytest.approx(
        [0.01 * BASE_LR, 10 * BASE_LR])
    restore_lr(optimizer, saved)
    saved = apply_phase_lr(optimizer, 'image')
    assert [g['lr'] for g in optimizer.param_groups] == [BASE_LR, 0.0]
    restore_lr(optimizer, saved)
    assert [g['lr'] for g in optimizer.param_groups] == [BASE_LR, BASE_LR]
    with pytest.raises(KeyError, match="phase 'other'"):
        apply_phase_lr(optimizer, 'other')


def test_pdnet_groups_put_the_part_basis_with_the_heads():
    """The authors' groups on the real model: [backbone] and [everything
    else, part basis included]; the frozen ResNet-18 is in neither."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(PAPER_CONFIG)
    with pytest.warns(UserWarning, match='RANDOM'):
        model = MODELS.build(tiny_model_cfg(
            num_parts=cfg.model.neck.num_parts, base=PAPER_CONFIG))
    optim = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP needs a GPU
    optim.pop('loss_scale')
    wrapper = build_optim_wrapper(model, optim)
    backbone, others = wrapper.optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in backbone['params']} == {
        n for n, _ in model.backbone.backbone.named_parameters(
            prefix='backbone.backbone')}
    other_names = {names[id(p)] for p in others['params']}
    assert 'part_loss.basis' in other_names
    assert len(backbone['params']) + len(others['params']) == \
        len(list(model.parameters()))
    assert wrapper.optimizer.defaults['momentum'] == 0.9


def test_without_paramwise_cfg_one_group_at_the_base_lr():
    cfg = dict(optimizer=dict(type='SGD', lr=1.0))
    groups = PhaseOptimWrapperConstructor(cfg).param_groups(ToySegmentor())
    assert len(groups) == 1 and 'phase_lr_mult' not in groups[0]
    assert len(groups[0]['params']) == 6


def test_longest_prefix_wins_and_prefix_is_a_module_boundary():
    cfg = dict(optimizer=dict(type='SGD', lr=1.0))
    paramwise = dict(groups=dict(enc=['backbone'], dec=['backbone.decoder']))
    groups = PhaseOptimWrapperConstructor(cfg, paramwise).param_groups(
        ToySegmentor())
    assert {g['name']: len(g['params']) for g in groups} == dict(
        enc=2, dec=2, others=2)
    assert PhaseOptimWrapperConstructor._match('backbone2.x',
                                               ['backbone']) is None


def test_model_wrapper_is_unwrapped():
    model = ToySegmentor()

    class Wrapper(nn.Module):  # stands in for MMDistributedDataParallel
        def __init__(self, module):
            super().__init__()
            self.module = module

    from mmengine.registry import MODEL_WRAPPERS
    MODEL_WRAPPERS.register_module(name='_TestWrapper', module=Wrapper,
                                   force=True)
    cfg = {k: v for k, v in PHASE_OPTIM.items()
           if k not in ('constructor', 'paramwise_cfg')}
    wrapper = PhaseOptimWrapperConstructor(
        cfg, PHASE_OPTIM['paramwise_cfg'])(Wrapper(model))
    assert wrapper.optimizer.param_groups[0]['params'][0] is \
        model.backbone.backbone.weight


SGD = dict(type='SGD', lr=1.0)


@pytest.mark.parametrize('cfg, paramwise, error, match', [
    (dict(optimizer=SGD), dict(groups=dict(b=['backbone.nope'])), KeyError,
     'backbone.nope'),
    (dict(optimizer=SGD), dict(groups=dict(b=['backbone']),
                               phase_lr_mult=dict(video=dict(b=1.0))),
     ValueError, 'every group'),
    (dict(optimizer=SGD), dict(groups=dict(others=['head'])), ValueError,
     'reserved'),
    (dict(optimizer=SGD), dict(custom_keys={}), ValueError, 'custom_keys'),
    (dict(optimizer=dict(type='SGD')), None, ValueError, 'no lr'),
    (dict(video=dict(optimizer=SGD)), None, ValueError, 'one optimizer'),
])
def test_bad_configs_name_the_problem(cfg, paramwise, error, match):
    with pytest.raises(error, match=match):
        PhaseOptimWrapperConstructor(cfg, paramwise)(ToySegmentor())


def test_amp_wrapper_is_built_with_the_same_groups(monkeypatch):
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    cfg = dict(PHASE_OPTIM, type='AmpOptimWrapper', loss_scale='dynamic')
    wrapper = build_optim_wrapper(ToySegmentor(), cfg)
    assert isinstance(wrapper, AmpOptimWrapper)
    assert [g['name'] for g in wrapper.optimizer.param_groups] == [
        'backbone', 'others']
    assert torch.is_tensor(wrapper.optimizer.param_groups[0]['params'][0])
