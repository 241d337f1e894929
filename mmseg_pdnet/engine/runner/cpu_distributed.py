# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import logging

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


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
    """Tear the default process group down before the process exits.

    Left to interpreter shutdown, gloo's worker threads can be destroyed
    while still joinable, and a rank then dies with ``terminate called
    without an active exception`` although its work is done. After a run
    that completed, the ranks first meet at a barrier, so no rank tears
    down while another still talks to it; after an error the group is
    only destroyed (a barrier could wait forever for a failed rank).

    Args:
        completed (bool): Whether this rank finished its work normally.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if completed:
        dist.barrier()
    dist.destroy_process_group()
