import copy
import math

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmseg_pdnet  # noqa: F401  (registers the loop and the constructor)
from .toy import ToyDataset, ToySegmentor

BASE_LR = 0.1
SGD = dict(type='SGD', lr=BASE_LR, momentum=0.9, weight_decay=5e-4)
# the authors' rule: one SGD, groups [backbone], [everything else]
PHASE_LR_MULT = dict(image=dict(backbone=1.0, others=0.0),
                     video=dict(backbone=0.01, others=10.0))
PHASE_OPTIM = dict(
    type='OptimWrapper', optimizer=SGD,
    constructor='PhaseOptimWrapperConstructor',
    paramwise_cfg=dict(groups=dict(backbone=['backbone.backbone']),
                       phase_lr_mult=PHASE_LR_MULT))


def loader(num, kind, batch_size=2, dataset_cls=ToyDataset, num_workers=0):
    return dict(
        dataset=dataset_cls(num, kind), batch_size=batch_size,
        num_workers=num_workers, persistent_workers=num_workers > 0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='pseudo_collate'))


class RecordHook(Hook):
    """Records phase, iteration and every group's lr (as the step uses it)
    before each step, and the parameters and momentum buffers after it."""

    priority = 'VERY_LOW'

    def __init__(self, stop_at=None):
        self.records = []
        self.stop_at = stop_at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.stop_at is not None and runner.iter == self.stop_at:
            raise KeyboardInterrupt('simulated interruption')
        lrs = {g.get('name', 'all'): g['lr']
               for g in runner.optim_wrapper.optimizer.param_groups}
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
        state = runner.optim_wrapper.optimizer.state
        self.records[-1]['momentum'] = {
            n: state[p]['momentum_buffer'].clone()
            for n, p in model.named_parameters()
            if 'momentum_buffer' in state.get(p, {})
        }


def poly_factor(t, total, milestone_iter=None):
    # the authors' poly decay (PDNetPolyLR): (1 - t / T)^0.9
    f = (1 - t / total)**0.9
    if milestone_iter is not None and t >= milestone_iter:
        f *= 0.5
    return f


@pytest.fixture
def make_runner(tmp_path):
    """Build a toy runner: ``make_runner(video=5, image=4, epochs=2, ...)``.

    ``model``, ``dataset_cls`` and ``num_workers`` replace the toy model,
    the toy dataset class and the loaders' worker count (> 0: persistent
    workers); ``seed`` is ``randomness.seed``."""

    def _make(video=10, image=6, epochs=2, optim=PHASE_OPTIM,
              milestone=1, work_dir=None, resume=False, ckpt_interval=None,
              stop_at=None, model=None, dataset_cls=ToyDataset,
              num_workers=0, seed=0):
        hook = RecordHook(stop_at)
        train_cfg = dict(type='AlternatingImageVideoLoop', max_epochs=epochs)
        if image:
            train_cfg['image_dataloader'] = loader(
                image, 'image', dataset_cls=dataset_cls,
                num_workers=num_workers)
        schedulers = [
            dict(type='PDNetPolyLR', power=0.9, eta_min=0.0, by_epoch=True,
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
            model=model if model is not None else ToySegmentor(),
            work_dir=str(work_dir or tmp_path),
            train_dataloader=loader(video, 'video', dataset_cls=dataset_cls,
                                    num_workers=num_workers),
            train_cfg=train_cfg,
            optim_wrapper=copy.deepcopy(optim),
            param_scheduler=schedulers,
            default_hooks=dict(checkpoint=checkpoint,
                               logger=dict(type='LoggerHook', interval=1)),
            custom_hooks=[hook],
            default_scope='mmseg',
            randomness=dict(seed=seed),
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
