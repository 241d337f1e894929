import copy
import math

import pytest
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmengine.runner import Runner

import mmseg_pdnet  # noqa: F401  (registers the loop and the constructor)
from .toy import ToyDataset, ToySegmentor

BASE_LR = 0.1
SGD = dict(type='SGD', lr=BASE_LR, momentum=0.9, weight_decay=5e-4)
PHASE_OPTIM = dict(
    constructor='PhaseOptimWrapperConstructor',
    video=dict(optimizer=SGD, lr_mult={'backbone.backbone': 0.01},
               default_lr_mult=10.0),
    image=dict(optimizer=SGD, params=['backbone.backbone']))


def loader(num, kind, batch_size=2):
    return dict(
        dataset=ToyDataset(num, kind), batch_size=batch_size, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='pseudo_collate'))


class RecordHook(Hook):
    """Records phase, iteration and every group's lr before each step, and
    the parameters after it."""

    priority = 'VERY_LOW'

    def __init__(self, stop_at=None):
        self.records = []
        self.stop_at = stop_at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.stop_at is not None and runner.iter == self.stop_at:
            raise KeyboardInterrupt('simulated interruption')
        wrappers = runner.optim_wrapper
        if isinstance(wrappers, OptimWrapperDict):
            wrappers = dict(wrappers.items())
        else:
            wrappers = dict(video=wrappers)
        lrs = {name: [g['lr'] for g in w.optimizer.param_groups]
               for name, w in wrappers.items()}
        stale = [n for n, p in runner.model.named_parameters()
                 if p.grad is not None and p.grad.abs().sum() > 0]
        self.records.append(
            dict(iter=runner.iter, epoch=runner.epoch,
                 phase=runner.train_loop.phase, lrs=lrs, stale_grads=stale))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = runner.model
        self.records[-1]['phase'] = runner.train_loop.phase
        self.records[-1]['outputs'] = {k: float(v)
                                       for k, v in outputs.items()}
        self.records[-1]['params'] = {
            n: p.detach().clone() for n, p in model.named_parameters()
        }


def poly_factor(t, total, milestone_iter=None):
    # MMEngine's PolyLR reaches 0 at the last iteration: T = total - 1
    f = (1 - t / (total - 1))**0.9
    if milestone_iter is not None and t >= milestone_iter:
        f *= 0.5
    return f


@pytest.fixture
def make_runner(tmp_path):
    """Build a toy runner: ``make_runner(video=5, image=4, epochs=2, ...)``."""

    def _make(video=10, image=6, epochs=2, optim=PHASE_OPTIM,
              milestone=1, work_dir=None, resume=False, ckpt_interval=None,
              stop_at=None):
        hook = RecordHook(stop_at)
        train_cfg = dict(type='AlternatingImageVideoLoop', max_epochs=epochs)
        if image:
            train_cfg['image_dataloader'] = loader(image, 'image')
        schedulers = [
            dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True,
                 begin=0, end=epochs, convert_to_iter_based=True)
        ]
        if milestone is not None:
            schedulers.append(
                dict(type='MultiStepLR', milestones=[milestone], gamma=0.5,
                     by_epoch=True, begin=0, end=epochs,
                     convert_to_iter_based=True))
        checkpoint = dict(type='CheckpointHook', interval=-1)
        if ckpt_interval:
            checkpoint = dict(type='CheckpointHook', by_epoch=False,
                              interval=ckpt_interval)
        runner = Runner(
            model=ToySegmentor(),
            work_dir=str(work_dir or tmp_path),
            train_dataloader=loader(video, 'video'),
            train_cfg=train_cfg,
            optim_wrapper=copy.deepcopy(optim),
            param_scheduler=schedulers,
            default_hooks=dict(checkpoint=checkpoint,
                               logger=dict(type='LoggerHook', interval=1)),
            custom_hooks=[hook],
            default_scope='mmseg',
            randomness=dict(seed=0),
            resume=resume,
            log_level='WARNING')
        runner.record_hook = hook
        return runner

    return _make


def expected_phases(video_batches):
    out = []
    for v in range(video_batches):
        if v % 2 == 0:
            out.append('image')
        out.append('video')
    assert len(out) == video_batches + math.ceil(video_batches / 2)
    return out
