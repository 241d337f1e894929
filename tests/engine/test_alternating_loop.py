import math

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from .conftest import BASE_LR, PHASE_LR_MULT, expected_phases, poly_factor
from .toy import ToyDataset, ToySegmentor


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


def test_image_stream_is_kept_across_epochs(make_runner):
    """As the authors: epoch e continues the image iterator of epoch e - 1
    (one image batch per epoch here); it restarts, reshuffled, only when
    the image set is exhausted."""
    runner = make_runner(video=4, image=6, epochs=6)
    runner.train()
    image_batches = [ids for kind, ids in runner.model.seen
                     if kind == 'image']
    assert len(image_batches) == 6  # 3 batches a pass: two passes
    first, second = image_batches[:3], image_batches[3:]
    assert sorted(sum(first, [])) == list(range(6))
    assert sorted(sum(second, [])) == list(range(6))
    assert first != second  # pass 2 is shuffled with another seed


def test_video_only_fallback_with_plain_optim_wrapper(make_runner):
    optim = dict(type='OptimWrapper',
                 optimizer=dict(type='SGD', lr=BASE_LR))
    runner = make_runner(video=6, image=0, epochs=2, optim=optim)
    runner.train()
    assert isinstance(runner.optim_wrapper, OptimWrapper)
    assert [k for k, _ in runner.model.seen] == ['video'] * 6
    assert runner.train_loop.max_iters == 6
    assert {r['phase'] for r in runner.record_hook.records} == {'video'}


def test_two_optimizers_are_refused(make_runner):
    """The authors step ONE optimizer in both phases; a dict of per-phase
    wrappers (separate momentum) is an error that says what to use."""
    runner = make_runner(video=4, image=2, epochs=1)
    params = list(runner.model.parameters())
    runner.optim_wrapper = OptimWrapperDict(**{
        phase: OptimWrapper(torch.optim.SGD(params, lr=BASE_LR))
        for phase in ('video', 'image')
    })
    with pytest.raises(TypeError, match='ONE optimizer'):
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
        mult = PHASE_LR_MULT[r['phase']]
        assert r['lrs']['backbone'] == pytest.approx(
            mult['backbone'] * BASE_LR * f, rel=1e-9, abs=0)
        assert r['lrs']['others'] == pytest.approx(
            mult['others'] * BASE_LR * f, rel=1e-9, abs=0)
    # the optimizer keeps the scheduled base lr between iterations (the
    # schedule ends with the last iteration's value)
    f_end = poly_factor(total - 1, total, milestone * per_epoch)
    assert [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups
            ] == pytest.approx([BASE_LR * f_end] * 2, abs=1e-12)


def _authors_reference(seen, num_video, num_image, total, milestone_iter):
    """The authors' training loop in plain PyTorch: ONE torch.optim.SGD
    with groups [backbone], [everything else]; image steps at lrs
    (lr_t, 0), video steps at (0.01 lr_t, 10 lr_t), with
    lr_t = base * (1 - t/T)^0.9 * 0.5^[t >= milestone]. Replays the
    batches the runner saw, in its order.

    Returns the parameters and momentum buffers after every step."""
    model = ToySegmentor()  # same seeded initial weights
    backbone = list(model.backbone.backbone.parameters())
    others = [p for n, p in model.named_parameters()
              if not n.startswith('backbone.backbone.')]
    sgd = torch.optim.SGD([dict(params=backbone), dict(params=others)],
                          lr=BASE_LR, momentum=0.9, weight_decay=5e-4)
    out = []
    for t, (kind, ids) in enumerate(seen):
        lr = BASE_LR * (1 - t / total)**0.9 * (0.5 if t >= milestone_iter
                                               else 1.0)
        mult = PHASE_LR_MULT[kind]
        sgd.param_groups[0]['lr'] = lr * mult['backbone']
        sgd.param_groups[1]['lr'] = lr * mult['others']
        num = num_video if kind == 'video' else num_image
        x = torch.tensor([[(i + 1) / num] for i in ids])
        y = model.head(torch.relu(model.backbone.decoder(
            model.backbone.backbone(x))))
        loss = ((y - 2 * x)**2).mean()
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        out.append(dict(
            params={n: p.detach().clone()
                    for n, p in model.named_parameters()},
            momentum={n: sgd.state[p]['momentum_buffer'].clone()
                      for n, p in model.named_parameters()}))
    return out


def test_matches_the_authors_single_optimizer_loop(make_runner):
    """Every parameter and momentum buffer after every step (image, video,
    video, ...) equals a plain-PyTorch replay of the authors' loop."""
    runner = make_runner(video=8, image=4, epochs=2, milestone=1)
    runner.train()
    records = runner.record_hook.records
    phases = [r['phase'] for r in records]
    assert phases[:3] == ['image', 'video', 'video']
    per_epoch = len(runner.train_dataloader)
    ref = _authors_reference(runner.model.seen, 8, 4,
                             runner.train_loop.max_iters, per_epoch)
    assert len(ref) == len(records) == 12
    for step, (got, want) in enumerate(zip(records, ref)):
        for key in ('params', 'momentum'):
            assert got[key].keys() == want[key].keys()
            for name, value in want[key].items():
                torch.testing.assert_close(
                    got[key][name], value, rtol=0, atol=1e-6,
                    msg=f'step {step} ({phases[step]}) {key} {name}')


def test_image_steps_fill_the_heads_momentum_but_move_only_the_backbone(
        make_runner):
    """On an image step the heads' lr is 0 but they are stepped: their
    momentum buffer takes the image gradient; their weights do not move."""
    runner = make_runner(video=6, image=2, epochs=1)
    before = {n: p.detach().clone()
              for n, p in runner.model.named_parameters()}
    runner.train()
    records = runner.record_hook.records
    first = records[0]
    assert first['phase'] == 'image'
    changed = {n for n, p in first['params'].items()
               if not torch.equal(p, before[n])}
    assert changed == {'backbone.backbone.weight', 'backbone.backbone.bias'}
    assert set(first['momentum']) == set(before)  # every buffer exists
    assert all(first['momentum'][n].abs().sum() > 0 for n in before)
    second = records[1]
    assert second['phase'] == 'video'
    assert all(not torch.equal(second['params'][n], first['params'][n])
               for n in before)


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
        assert r['lrs'] == pytest.approx(ref[r['iter']]['lrs'], rel=1e-9)
    assert resumed.model.seen == full.model.seen[10:]
    # the image stream continues where it stopped, and the momentum
    # buffers are restored: the same weights as without interruption
    for r in got:
        want = ref[r['iter']]
        for key in ('params', 'momentum'):
            for n, value in want[key].items():
                torch.testing.assert_close(r[key][n], value, rtol=0,
                                           atol=1e-6)


class CountingToyDataset(ToyDataset):
    """Counts the samples loaded (main process: ``num_workers=0``)."""

    loaded = []

    def __getitem__(self, idx):
        CountingToyDataset.loaded.append((self.kind, idx))
        return super().__getitem__(idx)


def test_resume_inside_an_epoch_loads_only_what_it_trains_on(
        make_runner, tmp_path):
    """The batches of the epoch before the checkpoint are skipped without
    being loaded; the image stream continues at its position."""
    kw = dict(video=10, image=4, epochs=2, dataset_cls=CountingToyDataset)
    full = make_runner(work_dir=tmp_path / 'a', **kw)
    full.train()
    first = make_runner(work_dir=tmp_path / 'b', ckpt_interval=5,
                        stop_at=11, **kw)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    CountingToyDataset.loaded.clear()
    resumed = make_runner(work_dir=tmp_path / 'b', resume=True, **kw)
    resumed.train()
    assert resumed.model.seen == full.model.seen[10:]
    trained = sorted((kind, i) for kind, ids in resumed.model.seen
                     for i in ids)
    assert sorted(CountingToyDataset.loaded) == trained
