"""A data loader worker that dies (SIGKILL of the OOM killer, a segfault)
ends ``tools/train.py`` / ``tools/test.py`` with one line naming the
cause: no hang, no traceback.

The worker kills itself from inside the dataset's ``__getitem__`` (a
transform of a plugin module the config imports, active when
``PDNET_TEST_KILL_WORKER`` names a signal and it runs in a worker); the
tools run as subprocesses, under a timeout that only guards against a
hang.
"""
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_pdnet.engine.errors import describe_worker_death
from tests.helpers import ROOT, make_tiny_data, write_tiny_config

KILL_PLUGIN = '''
import os
import signal

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from torch.utils.data import get_worker_info


@TRANSFORMS.register_module()
class KillDataWorker(BaseTransform):

    def transform(self, results):
        name = os.environ.get('PDNET_TEST_KILL_WORKER')
        if name and get_worker_info() is not None:
            with open(os.environ['PDNET_TEST_WORKER_PID'], 'w') as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), getattr(signal, name))
        return results
'''

KILL_CONFIG = '''
custom_imports = dict(imports=['mmseg_pdnet', 'pdnet_test_kill'],
                      allow_failed_imports=False)
train_pipeline.append(dict(type='KillDataWorker'))
test_pipeline.append(dict(type='KillDataWorker'))
train_dataloader.update(num_workers=1)
val_dataloader.update(num_workers=1)
test_dataloader = val_dataloader
'''


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('worker_death')
    data = make_tiny_data(str(tmp / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp / 'tiny.py'), data, epochs=1, batch=4)
    with open(cfg, 'a') as f:
        f.write(KILL_CONFIG)
    plugin = tmp / 'plugin'
    plugin.mkdir()
    (plugin / 'pdnet_test_kill.py').write_text(KILL_PLUGIN)
    return dict(tmp=tmp, cfg=cfg, plugin=str(plugin))


def run_tool(setup, tool, args, signame):
    pid_file = str(setup['tmp'] / f'{tool}.pid')
    env = dict(os.environ, PDNET_TEST_KILL_WORKER=signame,
               PDNET_TEST_WORKER_PID=pid_file,
               PYTHONPATH=os.pathsep.join([setup['plugin'], ROOT]))
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', tool), setup['cfg'], *args],
        env=env, capture_output=True, text=True, timeout=600)
    with open(pid_file) as f:
        return proc, int(f.read())


def test_train_names_a_worker_killed_by_sigkill(setup):
    proc, pid = run_tool(setup, 'train.py',
                         ['--work-dir', str(setup['tmp'] / 'train')],
                         'SIGKILL')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f'train.py: error: a data loader worker (pid {pid}) was killed by '
        'signal 9 (SIGKILL: out of memory?)')


def test_test_names_a_worker_that_segfaulted(setup):
    init_default_scope('mmseg')
    model = MODELS.build(
        Config.fromfile(setup['cfg'], import_custom_modules=False).model)
    ckpt = str(setup['tmp'] / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    proc, pid = run_tool(setup, 'test.py',
                         [ckpt, '--work-dir', str(setup['tmp'] / 'test')],
                         'SIGSEGV')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    # PyTorch's worker writes "ERROR: Unexpected segmentation fault
    # encountered in worker." (NUL-terminated) before it dies
    lines = proc.stderr.replace('\0', '').strip().splitlines()
    assert lines[-1] == (
        f'test.py: error: a data loader worker (pid {pid}) was killed by '
        'signal 11 (SIGSEGV: a crash in native code of the data pipeline; '
        'num_workers=0 shows where)')


def test_worker_death_messages():
    killed = RuntimeError('DataLoader worker (pid 12) is killed by signal: '
                          f'{signal.strsignal(signal.SIGBUS)}. It is '
                          'possible that dataloader\'s workers are out of '
                          'shared memory.')
    waiting = RuntimeError('DataLoader worker (pid(s) 12) exited '
                           'unexpectedly')
    waiting.__cause__ = killed
    assert describe_worker_death(waiting) == (
        'a data loader worker (pid 12) was killed by signal 7 (SIGBUS: out '
        'of shared memory? enlarge /dev/shm)')
    assert describe_worker_death(RuntimeError(
        'DataLoader worker (pid(s) 3, 4) exited unexpectedly')).startswith(
            'a data loader worker (pid(s) 3, 4) exited unexpectedly')
    assert describe_worker_death(RuntimeError(
        'DataLoader worker (pid 5) exited unexpectedly with exit code 3. '
        'Details are lost')).startswith(
            'a data loader worker (pid 5) exited unexpectedly with exit code 3')
    assert describe_worker_death(RuntimeError('CUDA out of memory')) is None
