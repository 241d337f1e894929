import math

import pytest
import torch
from mmengine.optim import OptimWrapper

from .conftest import BASE_LR, expected_phases, poly_factor


def test_alternation_order_and_epoch_length(make_runner):
    # 5 video batches (10 samples, batch 2), 3 image batches (6 samples)
    runner = make_runner(video=10, image=6, epochs=2)
    runner.train()
    loop = runner.train_loop
    per_epoch = expected_phases(5)  # i v v i v v i v
    assert len(per_epoch) == 5 + math.ceil(5 / 2) == 8
    assert len(runner.train_dataloader) == 8
    assert loop.max_iters == loop.iter == 16
    assert [kind for kind, _ in runner.model.seen] == per_epoch * 2
    # each epoch sees every video sample exactly once
    video_ids = [i for kind, ids in runner.model.seen[:8] if kind == 'video'
                 for i in ids]
    assert sorted(video_ids) == list(range(10))


def test_small_image_set_is_cycled_and_reshuffled(make_runner):
    # 7 video batches need 4 image batches per epoch; the image set has 2
    runner = make_runner(video=14, image=4, epochs=2)
    runner.train()
    image_batches = [ids for kind, ids in runner.model.seen
                     if kind == 'image']
    assert len(image_batches) == 8
    for start in range(0, 8, 2):  # every pass covers the image set once
        ids = image_batches[start] + image_batches[start + 1]
        assert sorted(ids) == [0, 1, 2, 3]


def test_video_only_fallback_with_plain_optim_wrapper(make_runner):
    optim = dict(type='OptimWrapper',
                 optimizer=dict(type='SGD', lr=BASE_LR))
    runner = make_runner(video=6, image=0, epochs=2, optim=optim)
    runner.train()
    assert isinstance(runner.optim_wrapper, OptimWrapper)
    assert [k for k, _ in runner.model.seen] == ['video'] * 6
    assert runner.train_loop.max_iters == 6
    assert {r['phase'] for r in runner.record_hook.records} == {'video'}


def test_image_steps_need_an_image_wrapper(make_runner):
    optim = dict(type='OptimWrapper',
                 optimizer=dict(type='SGD', lr=BASE_LR))
    runner = make_runner(video=4, image=2, epochs=1, optim=optim)
    with pytest.raises(TypeError, match='image'):
        runner.train()


def test_losses_are_logged_with_their_phase(make_runner):
    runner = make_runner(video=6, image=2, epochs=1)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert 'train/video.loss' in scalars and 'train/image.loss' in scalars
    assert 'train/loss' not in scalars
    records = runner.record_hook.records
    for r in records:
        assert list(r['outputs']) == [f'{r["phase"]}.loss']
    image_losses = [r['outputs']['image.loss'] for r in records
                    if r['phase'] == 'image']
    # (runners built in the same second share a message hub: take the end)
    logged = scalars['train/image.loss'].data[0][-len(image_losses):]
    assert list(logged) == pytest.approx(image_losses)


def test_lr_of_every_group_follows_poly_across_phases(make_runner):
    epochs, milestone = 3, 1
    runner = make_runner(video=6, image=2, epochs=epochs,
                         milestone=milestone)
    runner.train()
    records = runner.record_hook.records
    total = runner.train_loop.max_iters
    per_epoch = len(runner.train_dataloader)
    assert total == epochs * per_epoch == 15
    for r in records:
        f = poly_factor(r['iter'], total, milestone * per_epoch)
        # video: backbone 0.01 x base, decoder and head 10 x base
        assert sorted(r['lrs']['video']) == pytest.approx(
            sorted([0.01 * BASE_LR * f, 10 * BASE_LR * f]), rel=1e-6)
        assert r['lrs']['image'] == pytest.approx([BASE_LR * f], rel=1e-6)


def test_image_steps_update_the_backbone_only(make_runner):
    runner = make_runner(video=6, image=2, epochs=1)
    before = {n: p.detach().clone()
              for n, p in runner.model.named_parameters()}
    runner.train()
    records = runner.record_hook.records
    prev = before
    for r in records[:-1]:  # the poly lr is 0 at the last iteration
        changed = {n for n, p in r['params'].items()
                   if not torch.equal(p, prev[n])}
        if r['phase'] == 'image':
            assert changed == {'backbone.backbone.weight',
                               'backbone.backbone.bias'}
        else:
            assert changed == set(prev)
        prev = r['params']


def test_no_gradient_leaks_from_image_to_video_steps(make_runner):
    """The image step's backward also fills the gradients of the heads,
    which the image optimizer neither steps nor zeroes: a video step must
    not start from them."""
    runner = make_runner(video=6, image=2, epochs=1)
    runner.train()
    records = runner.record_hook.records
    phases = [r['phase'] for r in records]
    assert phases[:3] == ['image', 'video', 'video']
    for r in records:
        assert r['stale_grads'] == []


def test_resume_restores_iteration_schedule_and_phase(make_runner, tmp_path):
    full = make_runner(video=10, image=4, epochs=2, work_dir=tmp_path / 'a')
    full.train()
    # interrupted at iteration 11 (inside epoch 2, right before a video
    # batch) after a checkpoint at iteration 10
    first = make_runner(video=10, image=4, epochs=2,
                        work_dir=tmp_path / 'b', ckpt_interval=5, stop_at=11)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    resumed = make_runner(video=10, image=4, epochs=2,
                          work_dir=tmp_path / 'b', resume=True)
    resumed.train()
    ref = {r['iter']: r for r in full.record_hook.records}
    got = resumed.record_hook.records
    assert [r['iter'] for r in got] == list(range(10, 16))
    for r in got:
        assert r['phase'] == ref[r['iter']]['phase']
        assert r['epoch'] == ref[r['iter']]['epoch']
        for name in ('video', 'image'):
            assert r['lrs'][name] == pytest.approx(
                ref[r['iter']]['lrs'][name], rel=1e-6)
    assert resumed.model.seen == full.model.seen[10:]
    for n, p in resumed.model.named_parameters():
        torch.testing.assert_close(p, dict(full.model.named_parameters())[n])
