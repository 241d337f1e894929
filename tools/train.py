#!/usr/bin/env python
"""Train a PDNet config with the MMEngine runner (MMSeg-style flags).

Checkpoints are saved crash-safe (``AtomicCheckpointHook``): a run killed
at any moment resumes with ``--resume``. A ``load_from`` or resumed
checkpoint must fit the model (``StrictLoadHook``), unless
``--allow-partial-load``.

Stopping and resuming (docs/checkpoints.md):
  SIGTERM (Slurm preemption or time limit, `kill`) or SIGINT (Ctrl-C):
  the current iteration finishes, a resume checkpoint iter_<N>.pth is
  written and named by last_checkpoint, one line is logged, and the exit
  status is 143 (SIGTERM) or 130 (SIGINT), 128 + the signal, as for a
  process the signal ended. `--resume` continues from it, inside the
  epoch, exactly. A second signal stops at once, without saving.
  Exit status 1 with one `train.py: error:` line: a checkpoint that could
  not be written (full disk: the previous one is kept), a NaN / inf loss
  (float32; under AMP: 100 steps in a row skipped by the loss scaler;
  nothing of the broken state is saved), a data loader worker that died
  (killed by the OOM killer, crashed), bad weights, data or config, a
  model that calls an mmcv op which is not compiled here (the line names
  the op and the command that builds them).

Example:
    python tools/train.py configs/pdnet/pdnet_r18_1xb4-6e_demo-128x128.py \\
        --work-dir work_dirs/demo
    python tools/train.py configs/pdnet/pdnet_r50_2xb2-60e_mvps-480x480.py \\
        --data-root "/data/my videos/MVPS" --resume
"""
import argparse
import logging
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmseg_pdnet.datasets import DatasetError
from mmseg_pdnet.engine.errors import (CheckpointSaveError,
                                       NonFiniteLossError,
                                       TrainingInterrupted,
                                       describe_worker_death)
from mmseg_pdnet.engine.hooks.atomic_checkpoint_hook import \
    read_last_checkpoint
from mmseg_pdnet.engine.runner import (close_distributed,
                                       prepare_cpu_distributed)
from mmseg_pdnet.engine.runner.cpu_distributed import exit_after_distributed
from mmseg_pdnet.utils import (CheckpointError, PretrainedWeightsUnavailable,
                               set_data_root, set_image_data_roots)
from mmseg_pdnet.utils.amp import AMP_DTYPES, add_amp_argument
from mmseg_pdnet.utils.cli import (HelpFormatter, add_launcher_arguments,
                                   export_local_rank, load_config,
                                   name_repeated_run)
from mmseg_pdnet.utils.mmcv_ops import MMCVOpNotCompiled

USAGE = ('train.py CONFIG [options] (a checkpoint goes to --resume, or to '
         '--cfg-options load_from=...)')


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', help='train config file (.py)')
    parser.add_argument('--work-dir',
                        help='the dir to save logs and models (default: '
                        'work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or (no value) from the '
        'latest checkpoint in the work_dir')
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='load a load_from / resume checkpoint whose keys or shapes do '
        'not all match the model, on purpose: the weights that fit are '
        'loaded, the rest is logged and keeps its initial values. Without '
        'it such a checkpoint is refused')
    parser.add_argument(
        '--data-root', metavar='DIR',
        help='dataset folder of every video dataset of the config (train, '
        'val and test dataloaders, ConcatDataset children included); kept '
        'as given, spaces too (--cfg-options drops spaces)')
    parser.add_argument(
        '--image-data-root', metavar='DIR', nargs='+',
        help='folders of the still-image sets of train_cfg.image_dataloader, '
        'one per dataset in the config\'s order (the paper configs: '
        'EG1800, Supervisely, COCO-person); --data-root leaves them as '
        'they are')
    add_amp_argument(parser, 'training (AmpOptimWrapper; needs a GPU)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    add_launcher_arguments(parser)
    return parser


def parse_args(argv=None):
    return export_local_rank(build_parser().parse_args(argv))


def enable_amp(cfg: Config, amp=True) -> None:
    """Switch the optim wrapper (one for both phases) to AMP.

    Args:
        cfg (Config): The config, changed in place.
        amp (bool | str): ``--amp``'s value: True keeps the wrapper's
            default type (float16), ``'fp16'`` / ``'bf16'`` set it.
    """
    w = cfg.optim_wrapper
    if w.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
    elif w.get('type') == 'CPUAutocastOptimWrapper':
        # the CPU bfloat16 wrapper of the demo config: CUDA AMP instead
        w.pop('enabled', None)
        w['type'] = 'AmpOptimWrapper'
        w['loss_scale'] = 'dynamic'
    elif w.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise ValueError('--amp is only supported with OptimWrapper, '
                         f'got {w.get("type")}')
    else:
        w['type'] = 'AmpOptimWrapper'
        w['loss_scale'] = 'dynamic'
    if amp in AMP_DTYPES:
        w['dtype'] = str(AMP_DTYPES[amp]).replace('torch.', '')


def disable_amp(cfg: Config) -> None:
    """Train an AMP config in float32, with a warning.

    MMEngine's AmpOptimWrapper refuses to run without a GPU (or NPU, MLU,
    MUSA); the paper recipe asks for AMP, and on a CPU-only machine it
    still trains, in float32.
    """
    w = cfg.optim_wrapper
    if w.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        w['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            w.pop(key, None)
        print_log('No GPU: the config asks for AmpOptimWrapper, which needs '
                  'one; training in float32 (OptimWrapper) instead.',
                  logger='current', level=logging.WARNING)


def check_dir(path: str, flag: str) -> str:
    if not osp.isdir(path):
        raise ValueError(f'{flag} {path}: no such directory')
    return path


def add_strict_load_hook(cfg: Config, strict: bool) -> None:
    """Make the runner refuse (or, on purpose, partially load) a checkpoint
    that does not fit the model (``StrictLoadHook``)."""
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h.get('type') != 'StrictLoadHook'
    ] + [dict(type='StrictLoadHook', strict=strict)]


def add_guard_hooks(cfg: Config) -> None:
    """Stop on SIGTERM / SIGINT with a resume checkpoint
    (``PreemptionHook``) and at a non-finite loss (``NonFiniteLossHook``);
    a config that configures either one keeps its settings."""
    hooks = list(cfg.get('custom_hooks', []))
    types = {h.get('type') for h in hooks}
    for name in ('PreemptionHook', 'NonFiniteLossHook'):
        if name not in types:
            hooks.append(dict(type=name))
    cfg.custom_hooks = hooks


def build_cfg(args) -> Config:
    cfg = load_config(args.config, USAGE)
    name_repeated_run(cfg, args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        set_data_root(cfg, check_dir(args.data_root, '--data-root'))
    if args.image_data_root is not None:
        set_image_data_roots(cfg, [
            check_dir(d, '--image-data-root') for d in args.image_data_root
        ])
    add_strict_load_hook(cfg, strict=not args.allow_partial_load)
    add_guard_hooks(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if get_device() == 'cpu':
            raise ValueError('--amp needs a GPU (MMEngine\'s '
                             'AmpOptimWrapper); none is available. On a '
                             'CPU, --cfg-options optim_wrapper.type='
                             'CPUAutocastOptimWrapper trains under '
                             'bfloat16 autocast')
        enable_amp(cfg, args.amp)
    elif get_device() == 'cpu':
        disable_amp(cfg)
    if args.resume == 'auto':
        # no checkpoint yet (stopped before the first one): start fresh,
        # main() says so (MMEngine would log "latest checkpoint None")
        cfg.resume = read_last_checkpoint(cfg.work_dir) is not None
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    # MMEngine's DDP set-up assumes CUDA; a CPU-only PyTorch uses gloo
    prepare_cpu_distributed(cfg)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_cfg(args)
    except ValueError as e:
        raise SystemExit(f'train.py: error: {e}')
    runner = Runner.from_cfg(cfg)
    if args.resume == 'auto' and not cfg.resume:
        runner.logger.info(
            f'--resume: no checkpoint in {cfg.work_dir} yet (no '
            'last_checkpoint): training from the start.')
    completed = False
    try:
        runner.train()
        completed = True
    except TrainingInterrupted as e:
        # SIGTERM / SIGINT: the checkpoint is saved and the line logged
        raise SystemExit(e.exit_status)
    except (PretrainedWeightsUnavailable, CheckpointError, DatasetError,
            FileNotFoundError, CheckpointSaveError, NonFiniteLossError,
            MMCVOpNotCompiled) as e:
        # bad weights or data, a full disk, a NaN, an mmcv op this
        # environment lacks: one line, no traceback
        raise SystemExit(f'train.py: error: {e}')
    except RuntimeError as e:
        reason = describe_worker_death(e)
        if reason is None:
            raise
        raise SystemExit(f'train.py: error: {reason}')
    finally:
        close_distributed(completed)


if __name__ == '__main__':
    main()
    # a finished DDP run leaves before interpreter shutdown, where gloo's
    # threads can abort it
    exit_after_distributed()
