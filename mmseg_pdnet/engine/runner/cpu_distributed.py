# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import atexit
import logging
import os
import sys
import threading

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

# set by close_distributed once a completed run has torn its group down
_finished_run = False


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Let MMEngine's DDP run on a CPU-only PyTorch (gloo backend).

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its
    ``wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
    ``MMDistributedDataParallel``; both fail without CUDA. When launched
    distributed (``cfg.launcher != 'none'``) on a machine without CUDA,
    this starts the default process group with gloo (rank and world size
    from the launcher's environment, as ``torchrun`` sets them) so the
    runner skips ``init_dist``, and asks for a CPU
    ``MMDistributedDataParallel`` (``device_ids=None``). SyncBN needs CUDA
    and is switched off (plain BN per process). Nothing happens with CUDA
    or without a launcher.

    Args:
        cfg (Config): The full config; ``model_wrapper_cfg`` and
            ``sync_bn`` are updated in place.

    Returns:
        bool: Whether the CPU set-up was applied.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher != 'pytorch':
        raise ValueError('CPU distributed runs need --launcher pytorch '
                         f'(torchrun), got {cfg.launcher!r}')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('sync_bn'):
        print_log('No CUDA: SyncBN is off (BN statistics per process).',
                  logger='current', level=logging.WARNING)
        cfg.sync_bn = None
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def close_distributed(completed: bool = True) -> None:
    """Tear the default process group down after a run.

    After a run that completed, the ranks first meet at a barrier, so no
    rank tears down while another still talks to it, and
    :func:`exit_after_distributed` may then end the process; after an
    error the group is only destroyed (a barrier could wait forever for a
    failed rank).

    Args:
        completed (bool): Whether this rank finished its work normally.
    """
    global _finished_run
    if not (dist.is_available() and dist.is_initialized()):
        return
    if completed:
        dist.barrier()
    dist.destroy_process_group()
    _finished_run = completed


def exit_after_distributed() -> None:
    """End a process whose distributed run finished, without interpreter
    shutdown.

    ``destroy_process_group`` does not stop gloo once DDP has wrapped a
    model: the group stays referenced, its worker and socket threads keep
    running and the group is only destructed inside interpreter shutdown,
    while the peer rank tears its side down too. A gloo thread that needs
    the interpreter then is ended by it inside a ``noexcept`` frame, and a
    rank whose work is done aborts (``terminate called without an active
    exception``, SIGABRT). So once :func:`close_distributed` has passed its
    barrier, this runs the exit handlers (log files are flushed and
    closed), waits for non-daemon threads as a normal exit does, and leaves
    with ``os._exit(0)``. Without a finished distributed run (none, or an
    error that exits as usual) it does nothing.
    """
    if not _finished_run:
        return
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
