"""Two-process DDP training on CPU (gloo) through tools/train.py."""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

from tests.helpers import (ROOT, make_image_set, make_tiny_data,
                           write_tiny_config)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_ddp_training(tmp_path):
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    images = make_image_set(data, str(tmp_path / 'images'))
    # 4 frames over 2 ranks, batch 1: 2 video + 1 image iterations per rank
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                            batch=1, image_root=images)
    work = str(tmp_path / 'work')
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
        '--nproc_per_node=2', '--master_addr=127.0.0.1',
        f'--master_port={free_port()}',
        osp.join(ROOT, 'tools', 'train.py'), cfg, '--work-dir', work,
        '--launcher', 'pytorch', '--cfg-options', 'train_cfg.val_interval=2'
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'terminate called' not in log, log[-4000:]
    # torchrun exits 0 only when both ranks finished; rank 0 logs the
    # world size and 3 iterations per rank (2 video + 1 image)
    assert 'Distributed training: True' in log, log[-3000:]
    assert 'GPU number: 2' in log, log[-3000:]
    assert 'Epoch(train) [1][3/3]' in log, log[-3000:]
    assert 'image.loss_seg' in log and 'video.loss_seg' in log
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 3 and ckpt['meta']['epoch'] == 1
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])


def test_close_distributed_tears_the_group_down(tmp_path):
    """tools/train.py and test.py destroy the group before exiting."""
    import torch.distributed as dist

    from mmseg_pdnet.engine.runner import close_distributed
    close_distributed()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        close_distributed(completed=True)
        assert not dist.is_initialized()
        dist.init_process_group('gloo', init_method=f'file://{tmp_path}/s2',
                                rank=0, world_size=1)
        close_distributed(completed=False)  # after an error: no barrier
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


EXIT_SCRIPT = """
import atexit
import torch, torch.distributed as dist
from mmseg_pdnet.engine.runner import close_distributed
from mmseg_pdnet.engine.runner.cpu_distributed import exit_after_distributed
dist.init_process_group('gloo', init_method='file://{store}', rank=0,
                        world_size=1)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
model(torch.ones(1, 2)).sum().backward()
atexit.register(lambda: open('{marker}', 'w').close())
print('buffered line')  # stdout is a pipe: not flushed yet
close_distributed(completed={completed})
exit_after_distributed()
print('after the exit')
"""


def test_exit_after_distributed(tmp_path):
    """A finished DDP run leaves with os._exit after the exit handlers (no
    interpreter shutdown with gloo's threads alive); otherwise nothing."""
    for completed in (True, False):
        marker = tmp_path / f'atexit_{completed}'
        script = EXIT_SCRIPT.format(store=tmp_path / f'store_{completed}',
                                    marker=marker, completed=completed)
        env = dict(os.environ, PYTHONPATH=ROOT)
        env.pop('PYTHONUNBUFFERED', None)  # keep stdout buffered
        proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT,
                              env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert 'buffered line' in proc.stdout
        assert marker.exists()  # exit handlers ran
        # after a finished run the process ends there; after an error it
        # goes on to exit as usual
        assert ('after the exit' in proc.stdout) is not completed
