"""SIGTERM / SIGINT stop ``tools/train.py`` with an exact-resume checkpoint
(PreemptionHook), and ``--resume`` continues inside the epoch.

The signal is real: a subprocess runs ``tools/train.py`` on the tiny
image/video recipe and sends it to itself inside the loop, at the
iteration named by ``PDNET_TEST_SIGNAL`` (a plugin module the config
imports wraps the loop's ``run_iter``). The resumed run ends with the
weights of an uninterrupted one.
"""
import os
import os.path as osp
import re
import signal
import subprocess
import sys

import pytest
import torch

from mmseg_pdnet.engine.errors import TrainingInterrupted
from mmseg_pdnet.utils.checkpoint import load_checkpoint_file
from tests.helpers import (ROOT, import_tool, make_image_set, make_tiny_data,
                           write_tiny_config)

#: imported by the signalled run's config only (never by this process)
SIGNAL_PLUGIN = '''
import os
import signal

from mmseg_pdnet.engine.runner.alternating_loop import \\
    AlternatingImageVideoLoop

_run_iter = AlternatingImageVideoLoop.run_iter


def run_iter(self, idx, data_batch):
    at, name = os.environ['PDNET_TEST_SIGNAL'].split(':')
    if self._iter == int(at):  # inside the loop, before this step
        os.kill(os.getpid(), getattr(signal, name))
    return _run_iter(self, idx, data_batch)


AlternatingImageVideoLoop.run_iter = run_iter
'''
#: no validation; the tiny config checkpoints at the end (epoch 2) only,
#: so a signal comes before the first checkpoint
OPTIONS = ['--cfg-options', 'train_cfg.val_begin=99']
TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def train_lines(log_text):
    return [tuple(int(g) for g in m.groups())
            for m in TRAIN_LINE.finditer(log_text)]


def run_log(work, newest=True):
    """The text of a run's log (``work/<timestamp>/<timestamp>.log``)."""
    runs = sorted(d for d in os.listdir(work)
                  if osp.isdir(osp.join(work, d)))
    run = runs[-1 if newest else 0]
    with open(osp.join(work, run, run + '.log')) as f:
        return f.read()


def weights(path):
    return load_checkpoint_file(path)['state_dict']


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """The tiny recipe (2 epochs of image, video, video) and its
    uninterrupted run, started with ``--resume`` in an empty work dir."""
    tmp = tmp_path_factory.mktemp('preempt')
    data = make_tiny_data(str(tmp / 'data'), frames=2)
    images = make_image_set(data, str(tmp / 'images'))
    cfg = write_tiny_config(str(tmp / 'tiny.py'), data, epochs=2, batch=2,
                            image_root=images)
    plugin = tmp / 'plugin'
    plugin.mkdir()
    (plugin / 'pdnet_test_signal.py').write_text(SIGNAL_PLUGIN)
    sig_cfg = tmp / 'signalled.py'
    sig_cfg.write_text(
        f'_base_ = [{cfg!r}]\n'
        "custom_imports = dict(imports=['mmseg_pdnet', 'pdnet_test_signal'],"
        ' allow_failed_imports=False)\n')
    full = str(tmp / 'full')
    import_tool('train.py').main([cfg, '--work-dir', full, '--resume',
                                  *OPTIONS])
    return dict(tmp=tmp, cfg=cfg, sig_cfg=str(sig_cfg), plugin=str(plugin),
                full=full)


def test_resume_without_a_checkpoint_starts_fresh_in_one_line(tiny):
    log = run_log(tiny['full'])
    line = (f'--resume: no checkpoint in {tiny["full"]} yet (no '
            'last_checkpoint): training from the start.')
    assert log.count(line) == 1
    assert 'latest checkpoint None' not in log
    assert train_lines(log)[0] == (1, 1, 3)


@pytest.mark.parametrize('signame,at,status', [
    ('SIGTERM', 4, 143),  # during epoch 2's first video step
    ('SIGINT', 1, 130),  # during epoch 1's first video step
])
def test_signalled_run_resumes_exactly(tiny, signame, at, status):
    """Signalled during iteration ``at`` (0-based), the run finishes that
    iteration, saves ``iter_<at + 1>.pth`` (named by last_checkpoint),
    logs one line and exits 128 + signal; ``--resume`` continues at the
    next iteration, inside the epoch, and ends with the weights of the
    uninterrupted run."""
    work = str(tiny['tmp'] / signame)
    env = dict(os.environ, PDNET_TEST_SIGNAL=f'{at}:{signame}',
               PYTHONPATH=os.pathsep.join([tiny['plugin'], ROOT]),
               # the same threads as this process: the same float sums
               OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
         tiny['sig_cfg'], '--work-dir', work, *OPTIONS],
        env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == status, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    done = at + 1
    epoch, within = divmod(done, 3)
    ckpt = osp.join(work, f'iter_{done}.pth')
    line = (f'{signame} received: stopped after iteration {done} (epoch '
            f'{epoch + 1}, iteration {within} of 3); resume checkpoint '
            f'{ckpt} (last_checkpoint)')
    assert proc.stdout.count(line) == 1
    # the signalled iteration was trained, nothing after it
    assert train_lines(run_log(work))[-1] == (epoch + 1, within, 3)
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == ckpt
    meta = load_checkpoint_file(ckpt)['meta']
    assert (meta['epoch'], meta['iter']) == (epoch, done)

    import_tool('train.py').main([tiny['cfg'], '--work-dir', work,
                                  '--resume', *OPTIONS])
    log = run_log(work)
    assert f'Auto resumed from the latest checkpoint {ckpt}.' in log
    assert (f'Resuming inside epoch {epoch + 1} at iteration '
            f'{within + 1}') in log
    # the resumed log starts at the next iteration and goes to the end
    lines = train_lines(log)
    assert lines[0] == (epoch + 1, within + 1, 3)
    assert lines[-1] == (2, 3, 3) and len(lines) == 6 - done
    want = weights(osp.join(tiny['full'], 'epoch_2.pth'))
    got = weights(osp.join(work, 'epoch_2.pth'))
    assert got.keys() == want.keys()
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6,
                                   msg=name)
    # the stop's checkpoint is removed once the regular one is in place
    assert not osp.exists(ckpt)
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(work, 'epoch_2.pth')


def test_exit_status_is_128_plus_the_signal():
    assert TrainingInterrupted(signal.SIGTERM, 'x').exit_status == 143
    assert TrainingInterrupted(signal.SIGINT, 'x').exit_status == 130


def test_slurm_script_hands_the_signal_to_the_ranks():
    """srun runs in place of the shell (exec): a signal sent to the
    script reaches srun, which forwards it to every rank."""
    with open(osp.join(ROOT, 'tools', 'slurm_train.sh')) as f:
        lines = [ln.strip() for ln in f if not ln.lstrip().startswith('#')]
    launch = [ln for ln in lines if 'srun' in ln]
    assert launch and launch[0].startswith('exec srun')
    assert '--resume' in open(osp.join(ROOT, 'tools',
                                       'slurm_train.sh')).read()
