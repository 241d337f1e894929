"""Non-finite losses stop training without saving the broken state
(NonFiniteLossHook): at the first NaN / inf loss in float32, after
``max_skipped_steps`` steps in a row skipped by the loss scaler under AMP.

AMP runs on the CPU here: MMEngine's ``AmpOptimWrapper`` with a real
``torch.amp.GradScaler('cpu')`` (MMEngine's constructor asks for a GPU,
the stepping is its own) under CPU autocast (bfloat16).
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

from mmseg_pdnet.engine.errors import NonFiniteLossError
from mmseg_pdnet.engine.hooks import NonFiniteLossHook
from mmseg_pdnet.engine.hooks.nonfinite_loss_hook import SKIPPED_TOTAL
from mmseg_pdnet.models.losses.geometric_concentration_loss import \
    GeometricConcentrationLoss
from mmseg_pdnet.utils.checkpoint import load_checkpoint_file
from tests.helpers import import_tool, make_tiny_data, write_tiny_config
from .conftest import SGD
from .toy import ToySegmentor


def current_iter():
    return MessageHub.get_current_instance().get_info('iter')


def last_checkpoint(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def test_nan_loss_stops_float32_training_and_keeps_the_last_checkpoint(
        tmp_path, monkeypatch):
    """The tiny PDNet (video only, 2 iterations per epoch, a checkpoint
    after every iteration): the concentration loss turns NaN at iteration
    3; training stops there with one line, iter_2.pth stays the last
    checkpoint and nothing of iteration 3 is saved."""
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=2)
    forward = GeometricConcentrationLoss.forward

    def nan_at_iteration_3(self, *args, **kwargs):
        loss = forward(self, *args, **kwargs)
        return loss * math.nan if current_iter() == 2 else loss

    monkeypatch.setattr(GeometricConcentrationLoss, 'forward',
                        nan_at_iteration_3)
    work = str(tmp_path / 'work')
    with pytest.raises(SystemExit) as exc:
        import_tool('train.py').main([
            cfg, '--work-dir', work, '--cfg-options',
            'train_cfg.val_begin=99', 'default_hooks.checkpoint.by_epoch=0',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=-1'
        ])
    message = str(exc.value)
    previous = osp.join(work, 'iter_2.pth')
    assert message.startswith(
        'train.py: error: non-finite loss at iteration 3 (epoch 2, '
        'iteration 1 of 2): video.loss_geo = nan')
    assert message.endswith(
        'training stopped before saving anything of this step, the last '
        f'good checkpoint {previous} is kept (last_checkpoint)')
    assert '\n' not in message and 'video.loss =' not in message
    assert last_checkpoint(work) == previous
    assert not osp.exists(osp.join(work, 'iter_3.pth'))
    state = load_checkpoint_file(previous)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())


@OPTIM_WRAPPERS.register_module(force=True)
class CpuAmpOptimWrapper(AmpOptimWrapper):
    """MMEngine's AMP stepping (``backward``: scaled; ``step``: the
    scaler's step and update) with a CPU GradScaler."""

    def __init__(self, **kwargs):
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.cast_dtype = torch.bfloat16
        self.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.**16)


class PoisonedToySegmentor(ToySegmentor):
    """The toy segmentor whose loss is NaN at the given iterations."""

    def __init__(self, poisoned):
        super().__init__()
        self.poisoned = poisoned

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = super().forward(inputs, data_samples, mode)
        if mode == 'loss' and self.poisoned(current_iter()):
            out = {k: v * math.nan for k, v in out.items()}
        return out


def amp_runner(make_runner, tmp_path, poisoned, max_skipped_steps=3):
    # 1 epoch of 8 iterations (5 video, 3 image batches)
    runner = make_runner(
        video=10, image=4, epochs=1, work_dir=tmp_path, ckpt_interval=1,
        model=PoisonedToySegmentor(poisoned),
        optim=dict(type='CpuAmpOptimWrapper', optimizer=SGD))
    runner.register_hook(NonFiniteLossHook(max_skipped_steps))
    return runner


def test_amp_skipped_steps_are_counted(make_runner, tmp_path):
    """A single NaN loss under AMP: the scaler skips the step (weights
    unchanged, scale halved), the step is counted, training goes on."""
    runner = amp_runner(make_runner, tmp_path, lambda it: it == 3)
    runner.train()
    records = runner.record_hook.records
    assert [r['iter'] for r in records] == list(range(8))
    for name, value in records[2]['params'].items():
        assert torch.equal(records[3]['params'][name], value), name
    assert not torch.equal(records[4]['params']['head.weight'],
                           records[3]['params']['head.weight'])
    assert runner.message_hub.get_info(SKIPPED_TOTAL) == 1
    assert runner.optim_wrapper.loss_scaler.get_scale() == 2.**15


def test_amp_steps_skipped_in_a_row_stop_training(make_runner, tmp_path):
    """NaN from iteration 4 on: the third skipped step in a row (iteration
    7) stops training; its state is not saved."""
    runner = amp_runner(make_runner, tmp_path, lambda it: it >= 4)
    with pytest.raises(NonFiniteLossError) as exc:
        runner.train()
    work = str(tmp_path)
    previous = osp.join(work, 'iter_6.pth')
    assert str(exc.value) == (
        '3 optimizer steps in a row skipped by the AMP loss scaler '
        '(non-finite gradients at every loss scale down to 8192) at '
        'iteration 7 (epoch 1, iteration 7 of 8); training stopped, the '
        f'last good checkpoint {previous} is kept (last_checkpoint)')
    assert last_checkpoint(work) == previous
    assert not osp.exists(osp.join(work, 'iter_7.pth'))
    # counted in the checkpoints (a resumed run counts on)
    hub = load_checkpoint_file(previous)['message_hub']['runtime_info']
    assert hub[SKIPPED_TOTAL] == 2


def test_max_skipped_steps_must_be_positive():
    with pytest.raises(ValueError, match='max_skipped_steps'):
        NonFiniteLossHook(0)
