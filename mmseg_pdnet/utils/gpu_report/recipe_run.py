# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""A short run of the paper recipe with ``tools/train.py`` on generated
MVPS-layout clips and still images: one epoch with a checkpoint, then
``--resume`` for a second epoch (with validation), in subprocesses."""
import glob
import json
import math
import os
import os.path as osp
import shutil
import sys
import time
from typing import List, Sequence, Tuple

import torch

from mmseg_pdnet.datasets.synthetic import make_demo_dataset

from .command import run_command

#: the paper config's still-image sets (EG1800, Supervisely, COCO-person)
IMAGE_SETS = 3


def make_recipe_data(root: str, clips: int, frames: int,
                     frame_size: Tuple[int, int]) -> Tuple[str, List[str]]:
    """Synthetic clips in the MVPS layout and still-image sets.

    Args:
        root (str): Folder to write into.
        clips (int): Train clips (one more for validation).
        frames (int): Frames per clip.
        frame_size (tuple[int, int]): (height, width).

    Returns:
        tuple: the MVPS-layout folder and the image set folders
        (``images/`` + ``masks/``, from the frames of the train clips).
    """
    data = osp.join(root, 'mvps')
    h, w = frame_size
    make_demo_dataset(data, seed=3, train_clips=clips, test_clips=1,
                      min_frames=frames, max_frames=frames, height=h,
                      width=w)
    seqs = sorted(os.listdir(osp.join(data, 'Keyframes', '480p')))
    sets = []
    for i in range(IMAGE_SETS):
        out = osp.join(root, f'images_{i}')
        seq = seqs[i % len(seqs)]
        for sub, src in (('images', 'Keyframes'), ('masks', 'Annotations')):
            shutil.copytree(osp.join(data, src, '480p', seq),
                            osp.join(out, sub), dirs_exist_ok=True)
        sets.append(out)
    return data, sets


def iterations_per_epoch(clips: int, frames: int, batch: int = 2) -> int:
    """Video batches V plus one image batch per two: ``V + ceil(V / 2)``."""
    video = clips * frames // batch
    return video + math.ceil(video / 2)


def _scalars(work_dir: str) -> List[dict]:
    """Every logged training record of the runs in ``work_dir``."""
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def _train(root: str, args: Sequence[str], timeout_s: int) -> dict:
    cmd = [sys.executable, osp.join(root, 'tools', 'train.py'), *args]
    proc, result = run_command(cmd, root, timeout_s)
    if proc.returncode != 0:
        result['stderr_tail'] = proc.stderr.strip().splitlines()[-8:]
    return result


def run_recipe(root: str, config: str, work_dir: str, clips: int,
               frames: int, frame_size: Tuple[int, int],
               timeout_s: int) -> dict:
    """Train one epoch (checkpoint), then resume for a second.

    Args:
        root (str): The repository root.
        config (str): The report's copy of the paper config.
        work_dir (str): Data and training outputs go here.
        clips (int): Train clips.
        frames (int): Frames per clip.
        frame_size (tuple[int, int]): (height, width) of the frames.
        timeout_s (int): Limit of each run.

    Returns:
        dict: the two runs (command, exit status, wall time), the
        iterations expected and found in the checkpoints, whether the
        optimizer state holds AMP's loss scaler, the logged losses
        (first, last, all finite), seconds per iteration and peak memory
        as MMEngine logged them, and the validation metrics.
    """
    start = time.perf_counter()
    data, image_sets = make_recipe_data(osp.join(work_dir, 'data'), clips,
                                        frames, frame_size)
    data_s = time.perf_counter() - start
    runs_dir = osp.join(work_dir, 'train')
    shutil.rmtree(runs_dir, ignore_errors=True)
    common = [config, '--work-dir', runs_dir, '--data-root', data,
              '--image-data-root', *image_sets]
    per_epoch = iterations_per_epoch(clips, frames)
    out = dict(data_s=data_s, iterations_per_epoch=per_epoch,
               expected_iterations=2 * per_epoch)
    out['first'] = _train(root, [*common, '--cfg-options',
                                 'train_cfg.max_epochs=1'], timeout_s)
    first_ckpt = osp.join(runs_dir, 'epoch_1.pth')
    out['checkpoint_after_first'] = osp.isfile(first_ckpt)
    if out['first']['returncode'] != 0 or not out['checkpoint_after_first']:
        return out
    out['resumed'] = _train(root, [
        *common, '--resume', '--cfg-options', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=2'], timeout_s)
    last = osp.join(runs_dir, 'epoch_2.pth')
    if osp.isfile(last):
        ckpt = torch.load(last, map_location='cpu', weights_only=False)
        out['final_iteration'] = ckpt['meta'].get('iter')
        out['final_epoch'] = ckpt['meta'].get('epoch')
        out['amp_loss_scaler_saved'] = 'loss_scaler' in ckpt.get(
            'optimizer', {})
    records = _scalars(runs_dir)
    train = [r for r in records if 'time' in r and any(
        k.endswith('loss') for k in r)]
    losses = [r[k] for r in train for k in r if k.endswith('.loss')]
    out['logged_iterations'] = [r.get('iter') for r in train]
    if losses:
        out['loss_first'], out['loss_last'] = losses[0], losses[-1]
        out['losses_finite'] = all(math.isfinite(v) for v in losses)
    if train:
        out['s_per_iter_median'] = sorted(r['time'] for r in train)[
            len(train) // 2]
        if any('memory' in r for r in train):
            out['memory_mb_max'] = max(r.get('memory', 0) for r in train)
    val = [r for r in records if any('J&F' in k for k in r)]
    if val:
        out['validation'] = {k: v for k, v in val[-1].items()
                             if 'J' in k or 'F' in k}
    return out
