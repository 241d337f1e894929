import pytest
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from mmseg_pdnet.engine.optimizers import PhaseOptimWrapperConstructor
from .conftest import PHASE_OPTIM
from .toy import ToySegmentor


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmseg')


def group_of(optimizer, param):
    for g in optimizer.param_groups:
        if any(p is param for p in g['params']):
            return g
    return None


def test_video_and_image_wrappers():
    model = ToySegmentor()
    model.frozen = nn.Linear(1, 1).requires_grad_(False)
    wrappers = build_optim_wrapper(model, PHASE_OPTIM)
    assert isinstance(wrappers, OptimWrapperDict)
    assert list(wrappers.keys()) == ['video', 'image']
    video, image = wrappers['video'].optimizer, wrappers['image'].optimizer
    bb = model.backbone.backbone.weight
    assert group_of(video, bb)['lr'] == pytest.approx(0.1 * 0.01)
    for p in (model.backbone.decoder.weight, model.head.bias):
        assert group_of(video, p)['lr'] == pytest.approx(0.1 * 10)
    assert group_of(image, bb)['lr'] == pytest.approx(0.1)
    assert group_of(image, model.head.weight) is None
    assert group_of(image, model.backbone.decoder.weight) is None
    # frozen parameters are in no optimizer; every other one in video
    assert group_of(video, model.frozen.weight) is None
    n_video = sum(len(g['params']) for g in video.param_groups)
    assert n_video == 6
    assert all(g['momentum'] == 0.9 and g['weight_decay'] == 5e-4
               for g in video.param_groups + image.param_groups)


def test_longest_prefix_wins_and_prefix_is_a_module_boundary():
    model = ToySegmentor()
    cfg = dict(optimizer=dict(type='SGD', lr=1.0),
               lr_mult={'backbone': 2.0, 'backbone.decoder': 3.0})
    groups = PhaseOptimWrapperConstructor(dict(video=cfg)).param_groups(
        model, cfg)
    by_mult = {g['lr_mult']: len(g['params']) for g in groups}
    assert by_mult == {2.0: 2, 3.0: 2, 1.0: 2}
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
    wrappers = PhaseOptimWrapperConstructor(
        {k: v for k, v in PHASE_OPTIM.items() if k != 'constructor'})(
            Wrapper(model))
    assert wrappers['image'].optimizer.param_groups[0]['params'][0] is \
        model.backbone.backbone.weight


@pytest.mark.parametrize('cfg, error, match', [
    (dict(video=dict(optimizer=dict(type='SGD', lr=1.0),
                     params=['backbone.nope'])), KeyError, 'backbone.nope'),
    (dict(video=dict(optimizer=dict(type='SGD', lr=1.0),
                     lr_mult={'neck': 0.1})), KeyError, 'neck'),
    (dict(video=dict(optimizer=dict(type='SGD'))), ValueError, 'no lr'),
])
def test_bad_configs_name_the_problem(cfg, error, match):
    with pytest.raises(error, match=match):
        PhaseOptimWrapperConstructor(cfg)(ToySegmentor())


def test_rejects_paramwise_cfg_and_missing_optimizer():
    with pytest.raises(ValueError, match='paramwise_cfg'):
        PhaseOptimWrapperConstructor(
            dict(video=dict(optimizer=dict(type='SGD', lr=1.0))),
            paramwise_cfg=dict(custom_keys={}))
    with pytest.raises(ValueError, match='optimizer'):
        PhaseOptimWrapperConstructor(dict(video=dict(type='OptimWrapper')))
