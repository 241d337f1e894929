# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""``tools/infer_video.py`` end to end (decode, model, mask encode) on a
generated clip, in a subprocess, as a user runs it."""
import os.path as osp
import re
import sys
from typing import Optional, Sequence

import torch

from .clips import count_frames
from .command import run_command

# infer_video's last progress line: "<n> frames in <s> s, <f> frames/s"
_SUMMARY = re.compile(r'(\d+) frames in ([\d.]+) s, ([\d.]+) frames/s')
# the time per frame of each stage, when infer_video gives it: "per
# frame: decode 2.1 ms, model 35.0 ms, render/encode 4.2 ms (the model
# bounds the speed)" (render/encode is reported as encode)
_STAGE = re.compile(r'\b(decode|model|(?:render/)?encode)\b\s*[:=]?\s*'
                    r'([\d.]+)\s*ms')
_BOUND = re.compile(r'\((?:the )?([\w/]+) bounds the speed\)')


def parse_summary(text: str) -> Optional[dict]:
    """infer_video's summary in ``text`` (its stderr).

    Args:
        text (str): The tool's output.

    Returns:
        dict | None: ``frames``, ``seconds``, ``fps`` of the last summary
        line, ``ms_per_frame`` (``decode``, ``model``, ``encode``) and
        ``bound`` (the stage that bounds the speed) of the last line that
        gives stage times, None where the output has none; None without a
        summary line.
    """
    lines = text.splitlines()
    summaries = [ln for ln in lines if _SUMMARY.search(ln)]
    if not summaries:
        return None
    frames, seconds, fps = _SUMMARY.search(summaries[-1]).groups()
    staged = [ln for ln in lines if len(_STAGE.findall(ln)) >= 2]
    stages, bound = None, None
    if staged:
        stages = {name.split('/')[-1]: float(ms)
                  for name, ms in _STAGE.findall(staged[-1])}
        match = _BOUND.search(staged[-1])
        bound = match.group(1) if match else None
    return dict(frames=int(frames), seconds=float(seconds), fps=float(fps),
                ms_per_frame=stages, bound=bound,
                line=summaries[-1].strip())


def save_random_checkpoint(config: str, path: str) -> str:
    """A checkpoint of the config's inference model with random weights
    (speed does not depend on them)."""
    from mmseg_pdnet.apis.video_inferencer import _load_model
    torch.manual_seed(0)
    model, _ = _load_model(config, None)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def run_infer_video(root: str, clip: str, config: str, checkpoint: str,
                    out: str, device: str, timeout_s: int,
                    extra: Sequence[str] = ()) -> dict:
    """Segment ``clip`` to a mask video with ``tools/infer_video.py``.

    Args:
        root (str): The repository root.
        clip (str): The input video.
        config (str): The config.
        checkpoint (str): Its checkpoint.
        out (str): The mask ``.mp4`` to write.
        device (str): ``--device``.
        timeout_s (int): Limit of the run.
        extra (Sequence[str]): More options (``--amp fp16 --channels-last
            --compile`` on CUDA).

    Returns:
        dict: the command, exit status, wall time, the parsed summary
        (:func:`parse_summary`), the frames in the output video and the
        last lines of stderr when it failed.
    """
    cmd = [sys.executable, osp.join(root, 'tools', 'infer_video.py'), clip,
           config, checkpoint, '--out', out, '--output-type', 'mask',
           '--device', device, *extra]
    proc, result = run_command(cmd, root, timeout_s)
    result['summary'] = parse_summary(proc.stderr + proc.stdout)
    if proc.returncode != 0:
        result['stderr_tail'] = proc.stderr.strip().splitlines()[-5:]
        return result
    result['output_frames'] = count_frames(out)
    return result
