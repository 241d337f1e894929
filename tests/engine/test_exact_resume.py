"""Killed and resumed training ends with the weights of an uninterrupted run.

The toy runs draw augmentations from Python's, NumPy's and torch's global
generators and use dropout, with and without (persistent) dataloader
workers; the tiny PDNet runs train the real model, dataset (random crop
and flip) and image/video alternation through ``tools/train.py``.
"""
import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmseg_pdnet.engine.runner.alternating_loop import RESUME_STATE_KEY
from mmseg_pdnet.engine.runner.random_state import (TrainingRandomStates,
                                                    get_rng_states,
                                                    seeded_loader,
                                                    set_rng_states)
from mmseg_pdnet.utils.checkpoint import load_checkpoint_file
from tests.helpers import (import_tool, make_image_set, make_tiny_data,
                           write_tiny_config)
from .conftest import PHASE_OPTIM
from .toy import ToyDataset, ToySegmentor


class NoisyToyDataset(ToyDataset):
    """Toy samples with random "augmentations" drawn from the three global
    generators, as a data pipeline does."""

    def __getitem__(self, idx):
        sample = super().__getitem__(idx)
        noise = (np.random.uniform(-0.1, 0.1) + random.uniform(-0.1, 0.1) +
                 0.1 * float(torch.rand(())))
        sample['inputs'] = sample['inputs'] + noise
        sample['data_samples']['noise'] = noise
        return sample


class DropoutToySegmentor(ToySegmentor):
    """The toy segmentor with dropout: training draws from torch's global
    generator in the main process (tanh: no dead unit makes the draws
    irrelevant)."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        h = torch.tanh(self.backbone.decoder(self.backbone.backbone(x)))
        y = self.head(F.dropout(h, 0.5, self.training))
        if mode != 'loss':
            return y
        self.seen.append((data_samples['kind'][0],
                          [int(i) for i in data_samples['idx']]))
        return dict(loss=((y - 2 * x)**2).mean())


def assert_same_weights(got, want):
    got, want = got.state_dict(), want.state_dict()
    assert got.keys() == want.keys()
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6,
                                   msg=name)


def test_rng_states_round_trip():
    states = get_rng_states()
    draws = (random.random(), np.random.rand(), torch.rand(()).item())
    set_rng_states(states)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == draws


def test_training_steps_draw_from_their_own_stream():
    """What runs between the steps does not change the steps' draws."""
    draws = []
    for between in (0, 5):
        torch.manual_seed(1)
        stream, out = TrainingRandomStates(), []
        for step in range(3):
            if step:
                torch.rand(between)  # validation, logging... in between
            with stream.step():
                out.append(torch.rand(2))
        draws.append(torch.cat(out))
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)


def test_sample_draws_depend_on_seed_epoch_index_only():
    """Each sample's draws are those of (seed, epoch, index), in the main
    process or in any (persistent) worker; the main process's generators
    are left as they were."""

    def noises(num_workers, epoch):
        dataset = NoisyToyDataset(8, 'video')
        loader = DataLoader(
            dataset, batch_size=2, num_workers=num_workers,
            persistent_workers=num_workers > 0, collate_fn=pseudo_collate,
            sampler=DefaultSampler(dataset, shuffle=True, seed=3))
        loader = seeded_loader(loader, 3, 'video')
        loader.sampler.set_epoch(epoch)
        return {i: n for b in loader for i, n in zip(
            b['data_samples']['idx'], b['data_samples']['noise'])}

    before = get_rng_states()
    main = noises(0, epoch=1)
    after = get_rng_states()
    assert torch.equal(before['torch'], after['torch'])
    assert before['python'] == after['python']
    assert torch.equal(before['numpy']['keys'], after['numpy']['keys'])
    assert noises(2, epoch=1) == main
    assert noises(0, epoch=2) != main  # a new epoch, new draws


@pytest.mark.parametrize('num_workers', [0, 2])
def test_killed_toy_run_resumes_exactly(make_runner, tmp_path, num_workers):
    """Killed inside epoch 2 after an iteration checkpoint, and resumed:
    the same batches, losses and weights as without interruption."""
    optim = copy.deepcopy(PHASE_OPTIM)
    optim['optimizer']['lr'] = 0.01  # dropout at lr 0.1 diverges
    kw = dict(video=10, image=4, epochs=2, dataset_cls=NoisyToyDataset,
              num_workers=num_workers, optim=optim)
    full = make_runner(work_dir=tmp_path / 'full',
                       model=DropoutToySegmentor(), **kw)
    full.train()
    # 8 iterations per epoch (5 video, 3 image batches); checkpoints after
    # iterations 5 and 10, killed before iteration 12
    first = make_runner(work_dir=tmp_path / 'cut', ckpt_interval=5,
                        stop_at=12, model=DropoutToySegmentor(), **kw)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    resumed = make_runner(work_dir=tmp_path / 'cut', resume=True,
                          model=DropoutToySegmentor(), **kw)
    resumed.train()
    ref = {r['iter']: r for r in full.record_hook.records}
    got = resumed.record_hook.records
    assert [r['iter'] for r in got] == list(range(10, 16))
    assert resumed.model.seen == full.model.seen[10:]
    for r in got:
        assert r['phase'] == ref[r['iter']]['phase']
        assert r['outputs'] == ref[r['iter']]['outputs']
        assert np.isfinite(list(r['outputs'].values())).all()
    assert_same_weights(resumed.model, full.model)


def test_resume_without_a_fixed_seed_is_exact(make_runner, tmp_path):
    """``randomness.seed=None``: the resumed runner builds its samplers
    with a new random seed; the checkpoint's seeds are put back."""
    optim = copy.deepcopy(PHASE_OPTIM)
    optim['optimizer']['lr'] = 0.01
    kw = dict(video=10, image=4, epochs=2, dataset_cls=NoisyToyDataset,
              optim=optim)
    first = make_runner(work_dir=tmp_path / 'cut', ckpt_interval=5,
                        stop_at=12, model=DropoutToySegmentor(), seed=None,
                        **kw)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    # the uninterrupted run that drew the same seed
    full = make_runner(work_dir=tmp_path / 'full', seed=first.seed,
                       model=DropoutToySegmentor(), **kw)
    full.train()
    assert full.model.seen[:12] == first.model.seen
    resumed = make_runner(work_dir=tmp_path / 'cut', resume=True,
                          model=DropoutToySegmentor(), seed=None, **kw)
    resumed.train()
    assert resumed.model.seen == full.model.seen[10:]
    assert_same_weights(resumed.model, full.model)


class LossRecorder(Hook):
    """Losses, and the random states each training step starts from."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.losses, self.states = {}, {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.states[runner.iter] = get_rng_states()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses[runner.iter] = (runner.train_loop.phase, {
            k: float(v) for k, v in outputs.items()})


def tiny_train(cfg, work, *options, resume=None, hooks=()):
    """tools/train.py's runner, trained; returns it and its LossRecorder."""
    train = import_tool('train.py')
    argv = [cfg, '--work-dir', work]
    if resume:
        argv += ['--resume', resume]
    # no validation (val_interval > epochs), every checkpoint kept
    argv += ['--cfg-options', 'train_cfg.val_interval=3',
             'default_hooks.checkpoint.max_keep_ckpts=-1', *options]
    runner = Runner.from_cfg(train.build_cfg(train.parse_args(argv)))
    recorder = LossRecorder()
    runner.register_hook(recorder)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner, recorder


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Tiny PDNet with random crop and flip, image and video phases: 2
    epochs of 3 iterations (image, video, video), uninterrupted, with
    checkpoints at the end of each epoch and after iteration 4 (inside
    epoch 2, after its image step)."""
    tmp = tmp_path_factory.mktemp('tiny')
    data = make_tiny_data(str(tmp / 'data'), frames=2)
    images = make_image_set(data, str(tmp / 'images'))
    cfg = write_tiny_config(str(tmp / 'tiny.py'), data, epochs=2, batch=2,
                            image_root=images)
    extra = CheckpointHook(by_epoch=False, interval=4, save_last=False)
    runner, recorder = tiny_train(cfg, str(tmp / 'full'),
                                  'default_hooks.checkpoint.interval=1',
                                  hooks=[extra])
    assert sorted(recorder.losses) == list(range(6))
    return dict(tmp=tmp, cfg=cfg, runner=runner, recorder=recorder)


@pytest.mark.parametrize('checkpoint,first_iter',
                         [('epoch_1.pth', 3), ('iter_4.pth', 4)])
def test_tiny_pdnet_resumes_exactly(tiny, checkpoint, first_iter):
    """A run killed after ``checkpoint`` and resumed from it with
    ``tools/train.py --resume``: the same losses at every iteration and
    the same weights at the end as without interruption. ``iter_4.pth``
    resumes inside epoch 2, after its image step."""
    ckpt = str(tiny['tmp'] / 'full' / checkpoint)
    runner, recorder = tiny_train(
        tiny['cfg'], str(tiny['tmp'] / checkpoint.split('.')[0]),
        resume=ckpt)
    full = tiny['recorder']
    assert sorted(recorder.losses) == list(range(first_iter, 6))
    for i, loss in recorder.losses.items():
        assert loss == full.losses[i], i
    assert_same_weights(runner.model, tiny['runner'].model)


def test_checkpoint_holds_the_states_the_next_step_starts_from(tiny):
    """epoch_1.pth (read as the runner reads it, weights_only) holds the
    loop's position, seeds and the random states iteration 3 started
    from in the uninterrupted run."""
    ckpt = load_checkpoint_file(str(tiny['tmp'] / 'full' / 'epoch_1.pth'))
    state = ckpt['message_hub']['runtime_info'][RESUME_STATE_KEY]
    assert state['iter'] == ckpt['meta']['iter'] == 3
    assert state['epoch'] == 0 and state['phase'] == 'video'
    assert state['image_batches'] == 1
    loader = tiny['runner'].train_loop.dataloader
    assert state['sampler_seeds'] == dict(
        video=loader.sampler.seed,
        image=loader.image_loader.sampler.sampler.seed)
    assert set(state['data_seeds']) == {'video', 'image'}
    saved = state['random_states']
    assert set(saved) >= {'python', 'numpy', 'torch'}
    started = tiny['recorder'].states[3]
    assert saved['python'] == started['python']
    assert torch.equal(saved['numpy']['keys'], started['numpy']['keys'])
    assert saved['numpy']['pos'] == started['numpy']['pos']
    assert torch.equal(saved['torch'], started['torch'])
