#!/usr/bin/env python
"""Train a PDNet config with the MMEngine runner (MMSeg-style flags).

Example:
    python tools/train.py configs/pdnet_r18_demo.py --work-dir work_dirs/demo
"""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmseg_pdnet.engine.runner import prepare_cpu_distributed
from mmseg_pdnet.utils import PretrainedWeightsUnavailable


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a PDNet model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or (no value) from the '
        'latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config) -> None:
    """Switch the optim wrapper (one for both phases) to AMP."""
    w = cfg.optim_wrapper
    if w.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
        return
    if w.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise ValueError('--amp is only supported with OptimWrapper, '
                         f'got {w.get("type")}')
    w['type'] = 'AmpOptimWrapper'
    w['loss_scale'] = 'dynamic'


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


def build_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if get_device() == 'cpu':
            raise ValueError('--amp needs a GPU (MMEngine\'s '
                             'AmpOptimWrapper); none is available')
        enable_amp(cfg)
    elif get_device() == 'cpu':
        disable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
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
    try:
        runner.train()
    except PretrainedWeightsUnavailable as e:
        raise SystemExit(f'train.py: error: {e}')


if __name__ == '__main__':
    main()
