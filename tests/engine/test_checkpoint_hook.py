"""Crash-safe checkpoints: a kill at any step of a save keeps a complete
checkpoint named by ``last_checkpoint``, and ``tools/train.py --resume``
continues (AtomicCheckpointHook)."""
import errno
import glob
import hashlib
import os
import os.path as osp
import shutil
import subprocess

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from mmseg_pdnet.engine.errors import CheckpointSaveError
from mmseg_pdnet.engine.hooks import AtomicCheckpointHook
from mmseg_pdnet.engine.hooks.atomic_checkpoint_hook import TMP_SUFFIX
from mmseg_pdnet.utils import load_checkpoint_file
from tests.helpers import (DEMO_CONFIG, import_tool, make_tiny_data,
                           write_tiny_config)
from tests.utils.test_checkpoint import ToyData, ToyModel


class Killed(BaseException):
    """A kill: no ``except Exception`` on the way catches it."""


def files(work):
    return sorted(os.listdir(work))


def last_checkpoint(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(scope='module')
def after_epoch_1(tmp_path_factory):
    """A 3-epoch tiny config and a work dir holding its epoch 1."""
    tmp = tmp_path_factory.mktemp('atomic')
    data = make_tiny_data(str(tmp / 'data'), frames=2)
    # batch 4: one iteration per epoch
    cfg = write_tiny_config(str(tmp / 'tiny.py'), data, epochs=3, batch=4)
    work = str(tmp / 'work')
    import_tool('train.py').main([
        cfg, '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.interval=1'
    ])
    return cfg, work


def test_our_configs_and_the_mmseg_scope_use_it():
    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    init_default_scope('mmseg')
    # user configs naming MMEngine's hook get the crash-safe one
    assert HOOKS.get('CheckpointHook') is AtomicCheckpointHook
    hook = HOOKS.build(dict(type='CheckpointHook', interval=1))
    assert isinstance(hook, AtomicCheckpointHook)


def kill_while_writing(monkeypatch, name):
    """The process dies halfway through writing ``name``'s bytes."""
    put = LocalBackend.put

    def dying_put(self, obj, filepath):
        if str(filepath).endswith(name + TMP_SUFFIX):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise Killed(f'killed while writing {filepath}')
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', dying_put)


def kill_at(monkeypatch, func, suffix):
    """The process dies when ``os.<func>`` is called on ``*suffix``, once."""
    original = getattr(os, func)
    fired = []

    def dying(*args, **kwargs):
        if not fired and str(args[-1 if func == 'replace' else 0]).endswith(
                suffix):
            fired.append(args)
            raise Killed(f'killed at os.{func}{args}')
        return original(*args, **kwargs)

    monkeypatch.setattr(os, func, dying)


# the steps of a save, in order, and the checkpoint that last_checkpoint
# names when the run is killed there
KILLS = {
    'writing': ('epoch_1.pth', lambda mp: kill_while_writing(
        mp, 'epoch_2.pth')),
    'renaming the checkpoint': ('epoch_1.pth', lambda mp: kill_at(
        mp, 'replace', 'epoch_2.pth')),
    'renaming last_checkpoint': ('epoch_1.pth', lambda mp: kill_at(
        mp, 'replace', 'last_checkpoint')),
    'removing the old checkpoint': ('epoch_2.pth', lambda mp: kill_at(
        mp, 'remove', 'epoch_1.pth')),
}


@pytest.mark.parametrize('step', [None, *KILLS])
def test_kill_at_each_step_of_a_save_then_resume(after_epoch_1, tmp_path,
                                                 monkeypatch, step):
    cfg, epoch_1 = after_epoch_1
    work = str(tmp_path / 'work')
    shutil.copytree(epoch_1, work)
    train = import_tool('train.py')
    argv = [cfg, '--work-dir', work, '--resume', '--cfg-options',
            'default_hooks.checkpoint.interval=1']
    if step is not None:
        expected_last, kill = KILLS[step]
        with monkeypatch.context() as mp:
            kill(mp)
            with pytest.raises(Killed):
                # resumes at epoch 1, dies while saving epoch 2
                train.main(argv)
        # what the user finds: a complete checkpoint, named by
        # last_checkpoint, and the previous one is still there
        assert osp.basename(last_checkpoint(work)) == expected_last
        ckpt = load_checkpoint_file(last_checkpoint(work))
        assert ckpt['meta']['epoch'] == int(expected_last[6])
        assert load_checkpoint_file(osp.join(work, 'epoch_1.pth'))[
            'meta']['epoch'] == 1
    train.main(argv)
    # max_keep_ckpts=1: exactly one checkpoint, complete; no leftovers
    assert [f for f in files(work) if f.endswith('.pth')] == ['epoch_3.pth']
    assert not glob.glob(osp.join(work, '*' + TMP_SUFFIX))
    assert last_checkpoint(work) == osp.join(work, 'epoch_3.pth')
    ckpt = load_checkpoint_file(osp.join(work, 'epoch_3.pth'))
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 3


def toy_runner(work_dir, max_iters, **checkpoint):
    """A toy iteration-based run whose config names MMEngine's
    ``CheckpointHook``, as a user config would."""
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), sampler=dict(type='DefaultSampler'),
            batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            **checkpoint),
            logger=dict(type='LoggerHook', interval=100)),
        default_scope='mmseg',
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING',
        experiment_name=f'atomic_{osp.basename(str(work_dir))}')


def test_normal_saves_leave_no_temporary_file(tmp_path):
    runner = toy_runner(tmp_path, 6, interval=2, max_keep_ckpts=2)
    hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
    assert [type(h) for h in hooks] == [AtomicCheckpointHook]
    runner.train()
    assert files(tmp_path)[-3:] == ['iter_4.pth', 'iter_6.pth',
                                    'last_checkpoint']
    assert not glob.glob(osp.join(str(tmp_path), '*' + TMP_SUFFIX))
    assert last_checkpoint(tmp_path) == osp.join(str(tmp_path), 'iter_6.pth')


def test_previous_best_checkpoint_survives_a_kill(tmp_path, monkeypatch):
    """save_best: MMEngine removes the previous best before writing the new
    one; here it is removed only once the new one is complete."""
    runner = toy_runner(tmp_path, 2, interval=1, save_best='acc',
                        rule='greater')
    hook = next(h for h in runner.hooks if isinstance(h, CheckpointHook))
    hook.before_train(runner)

    def validate(it, acc):
        runner.train_loop._iter = it
        hook.after_val_epoch(runner, {'acc': acc})

    def best(it):
        return osp.join(str(tmp_path), f'best_acc_iter_{it}.pth')

    validate(1, 0.5)
    validate(2, 0.9)
    assert not osp.exists(best(1)) and osp.isfile(best(2))
    # a better score at the same iteration: the file is replaced, not lost
    validate(2, 0.95)
    assert osp.isfile(best(2))
    with monkeypatch.context() as mp:
        kill_while_writing(mp, 'best_acc_iter_3.pth')
        with pytest.raises(Killed):
            validate(3, 0.99)
    assert torch.equal(
        load_checkpoint_file(best(2))['state_dict']['conv.weight'],
        runner.model.conv.weight.detach())
    assert not osp.exists(best(3))


# ------------------------------------------------------------- full disk


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def half_written_then_no_space(self, obj, filepath):
    """The disk fills up halfway through the file."""
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
    no_space()


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize('where', ['torch.save', 'file write'])
def test_failed_save_keeps_the_previous_checkpoint(after_epoch_1, tmp_path,
                                                   monkeypatch, where):
    """ENOSPC while saving epoch 2: epoch_1.pth is untouched and still named
    by last_checkpoint, no partial file is left, and training stops with
    one line naming the folder and the error."""
    cfg, epoch_1 = after_epoch_1
    work = str(tmp_path / 'work')
    shutil.copytree(epoch_1, work)
    previous = last_checkpoint(work)  # the resumed epoch_1.pth
    assert osp.basename(previous) == 'epoch_1.pth'
    before = digest(previous)
    if where == 'torch.save':
        monkeypatch.setattr(torch, 'save', no_space)
    else:
        monkeypatch.setattr(LocalBackend, 'put', half_written_then_no_space)
    with pytest.raises(SystemExit) as exc:
        import_tool('train.py').main([
            cfg, '--work-dir', work, '--resume', '--cfg-options',
            'default_hooks.checkpoint.interval=1'
        ])
    message = str(exc.value)
    assert '\n' not in message
    assert message == (
        f'train.py: error: could not save checkpoint epoch_2.pth in {work}: '
        '[Errno 28] No space left on device; training stopped, the previous '
        f'checkpoint {previous} is kept (last_checkpoint)')
    assert last_checkpoint(work) == previous
    assert digest(previous) == before
    assert not glob.glob(osp.join(work, '*' + TMP_SUFFIX))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))


class FillDisk(Hook):
    """Fills ``path``'s file system after the first iteration's save."""

    priority = 'LOWEST'

    def __init__(self, path):
        self.path = path

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter != 0:
            return
        # unbuffered: the write that does not fit raises, not the close
        with open(osp.join(self.path, 'filler'), 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs (needs root and a kernel that lets this process
    mount; skipped otherwise)."""
    mnt = tmp_path / 'small_disk'
    mnt.mkdir()
    try:
        done = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mnt)],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f'cannot mount a tmpfs here: {e}')
    if done.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: ' +
                    (done.stderr.strip() or f'exit {done.returncode}'))
    try:
        yield str(mnt)
    finally:
        subprocess.run(['umount', str(mnt)], capture_output=True,
                       timeout=30)


def test_full_tmpfs_keeps_the_previous_checkpoint(tmp_path, small_tmpfs):
    """A real full disk (ENOSPC from the kernel): the checkpoint of
    iteration 1 survives the failed save of iteration 2."""
    runner = toy_runner(tmp_path / 'work', 3, interval=1, max_keep_ckpts=1,
                        out_dir=small_tmpfs)
    runner.register_hook(FillDisk(small_tmpfs))
    with pytest.raises(CheckpointSaveError) as exc:
        runner.train()
    out_dir = osp.join(small_tmpfs, 'work')
    previous = osp.join(out_dir, 'iter_1.pth')
    assert str(exc.value).startswith(
        f'could not save checkpoint iter_2.pth in {out_dir}: [Errno 28]')
    assert str(exc.value).endswith(
        f'the previous checkpoint {previous} is kept (last_checkpoint)')
    assert last_checkpoint(str(tmp_path / 'work')) == previous
    assert os.listdir(out_dir) == ['iter_1.pth']  # no partial file
    ckpt = load_checkpoint_file(previous)
    assert ckpt['meta']['iter'] == 1
