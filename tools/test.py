#!/usr/bin/env python
"""Test (evaluate) a PDNet checkpoint with the MMEngine runner.

The J&F tables come from the config's ``test_evaluator`` (``JFMetric``);
with ``extra_thresholds=['authors']`` one pass reports both protocols of
docs/evaluation.md: the DAVIS-style ``p >= 0.5`` (``J&F``, ``J_mean``, ...)
and the PDNet authors' ``round(255 p) >= 1`` (``authors/J&F``, ...). Other
configs: ``--cfg-options "test_evaluator.extra_thresholds=['authors']"``.

The checkpoint must fit the config (same keys and shapes, the training-only
``part_loss.*`` aside): another one is refused with one line and exit
status 1, unless ``--allow-partial-load``. The authors' checkpoints
(iCVTEAM/PDNet) are taken as they are: converted in memory, with one log
line (tools/model_converters/pdnet2mmseg.py saves the conversion). A model
that calls an mmcv op which is not compiled here ends with one line naming
the op and the command that builds them (exit status 1).

Example:
    python tools/test.py configs/pdnet/pdnet_r18_1xb4-6e_demo-128x128.py \\
        work_dirs/demo/epoch_6.pth --out work_dirs/demo/masks --out-prob
    # the authors' protocol on their result PNGs
    python tools/eval_masks.py --gt-root data/demo/Annotations/480p \\
        --pred-root work_dirs/demo/masks_prob --pred-format mvps
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmseg_pdnet.datasets import DatasetError
from mmseg_pdnet.engine.errors import describe_worker_death
from mmseg_pdnet.engine.runner import (close_distributed,
                                       prepare_cpu_distributed)
from mmseg_pdnet.engine.runner.cpu_distributed import exit_after_distributed
from mmseg_pdnet.utils import CheckpointError, set_data_root
from mmseg_pdnet.utils.cli import (HelpFormatter, add_launcher_arguments,
                                   check_checkpoint_path, check_output_dir,
                                   export_local_rank, load_config,
                                   name_repeated_run)
from mmseg_pdnet.utils.mmcv_ops import MMCVOpNotCompiled

USAGE = 'test.py CONFIG CHECKPOINT [options]'


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', help='test config file (.py)')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--work-dir',
                        help='the dir to save logs and results (default: '
                        'work_dirs/<config name>)')
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='evaluate a checkpoint whose keys or shapes do not all match '
        'the config, on purpose: the weights that fit are loaded, the rest '
        'is logged and keeps its initial values. Without it such a '
        'checkpoint is refused (exit status 1)')
    parser.add_argument(
        '--data-root', metavar='DIR',
        help='dataset folder of every video dataset of the config (test, '
        'val and train dataloaders, ConcatDataset children included); kept '
        'as given, spaces too (--cfg-options drops spaces)')
    parser.add_argument(
        '--out', help='write binarised masks (the model\'s pred_sem_seg, '
        '0/255) as DIR/<seq>/<frame>.png')
    parser.add_argument(
        '--out-prob', action='store_true',
        help='with --out, also write the authors\' result PNGs: '
        'round(255 p) of the foreground probability p (round half to even) '
        'at the ground truth\'s resolution, to DIR_prob/<seq>/<frame>.png; '
        'tools/eval_masks.py --pred-format mvps scores them as the MVPS '
        'evaluation code (any non-zero pixel is foreground), --pred-format '
        'prob at p >= 0.5')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory where painted images will be saved '
        '(and, under vis_pairs/, titled target | reference | prediction | '
        'ground truth | parts panels)')
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='with --show: seconds each result is shown')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    add_launcher_arguments(parser)
    return parser


def parse_args(argv=None):
    return export_local_rank(build_parser().parse_args(argv))


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError('--show / --show-dir need a "visualization" hook '
                           'in default_hooks')
    hook = default_hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def build_cfg(args) -> Config:
    cfg = load_config(args.config, USAGE)
    name_repeated_run(cfg, args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        if not osp.isdir(args.data_root):
            raise ValueError(f'--data-root {args.data_root}: no such '
                             'directory')
        set_data_root(cfg, args.data_root)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # MMEngine loads load_from with strict=False: a checkpoint of another
    # model would be evaluated silently (J&F 0); refuse it instead
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h.get('type') != 'StrictLoadHook'
    ] + [dict(type='StrictLoadHook', strict=not args.allow_partial_load)]
    prepare_cpu_distributed(cfg)  # CPU-only PyTorch: gloo DDP
    # output folders before the (long) test: missing ones are created by
    # the hooks, unwritable ones are refused here in one line
    for flag, folder in (('--out', args.out),
                         ('--out-prob', args.out and args.out_prob
                          and args.out.rstrip('/\\') + '_prob'),
                         ('--show-dir', args.show_dir)):
        if folder:
            check_output_dir(folder, flag)
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.out:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='SaveMasksHook', out_dir=args.out,
                 prob_dir=args.out.rstrip('/\\') + '_prob'
                 if args.out_prob else None)
        ]
    return cfg


def main(argv=None):
    args = parse_args(argv)
    try:
        # the config first: with the arguments swapped, it names the order
        cfg = build_cfg(args)
        check_checkpoint_path(args.checkpoint, USAGE)
    except ValueError as e:
        raise SystemExit(f'test.py: error: {e}')
    runner = Runner.from_cfg(cfg)
    completed = False
    try:
        runner.test()
        completed = True
    except (CheckpointError, DatasetError, FileNotFoundError,
            MMCVOpNotCompiled) as e:
        # bad weights or data (one line naming the file), an mmcv op this
        # environment lacks (naming the op and how to build it): no
        # traceback
        raise SystemExit(f'test.py: error: {e}')
    except RuntimeError as e:
        # a data loader worker killed (OOM killer) or crashed
        reason = describe_worker_death(e)
        if reason is None:
            raise
        raise SystemExit(f'test.py: error: {reason}')
    finally:
        close_distributed(completed)


if __name__ == '__main__':
    main()
    # a finished DDP run leaves before interpreter shutdown, where gloo's
    # threads can abort it
    exit_after_distributed()
