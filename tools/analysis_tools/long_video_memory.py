#!/usr/bin/env python
"""Check that a long video streams in flat memory at a constant speed.

Generates a synthetic clip (default: 10,000 frames of 176x144, a moving
portrait-like shape over a drifting background, a scene cut every 2,000
frames), runs ``tools/infer_video.py``'s own ``main()`` on it with mask
output, and samples every ``--every`` frames, in the thread that runs the
model:

* ``rss_mb``: the resident memory of the process (psutil), which the
  machine's load does not distort: the primary figure;
* ``fps``: frames/s of the window since the previous sample (wall clock:
  other processes on the machine slow it down);
* ``cpu_ms_per_frame``: CPU time (user + system, all threads of this
  process) per frame of the window, less sensitive to load than ``fps``;
* ``py_objects``: objects tracked by the garbage collector (what a list of
  per-frame results that nobody empties would make grow);
* ``threads``: threads of the process (a reader or writer thread that is
  never joined would pile up).

By default the run also writes a contact sheet, renews the reference every
500 frames and on scene cuts (``--scene-cut-threshold 30``), so that the
per-frame state of those features is part of what is measured;
``--plain`` runs the mask output alone.

Checks, after ``--warmup`` frames (the allocator, the caches of torch and
the encoder settle first): the RSS grows by less than ``--max-growth-mb``
(50 MB) from the first sample at or after ``--warmup`` to the last one,
and the speed stays constant: ``fps_ratio`` (last window / first window
after warm-up) within ``1 +- --speed-tolerance`` (0.2). On a loaded
machine single windows are noisy, so ``fps_ratio_median`` (median of the
last third of the windows / median of the first third) is reported too,
and ``cpu_ratio_median`` (the same for CPU ms per frame), which load
hardly moves, is checked as ``cpu_per_frame_constant``.

Without CONFIG and CHECKPOINT a tiny random-init PDNet (ResNet-18 encoder,
3 parts, 64x64 input) is written to the work folder: memory and speed
over time do not depend on the weights.

Example (the numbers in docs/performance.md)::

    python tools/analysis_tools/long_video_memory.py --frames 10000 \\
        --json work_dirs/long_video_memory.json

JSON fields: ``samples`` (the table: ``frames``, ``rss_mb``, ``fps``,
``cpu_ms_per_frame``, ``py_objects``, ``threads``), ``summary``
(``rss_start_mb``, ``rss_end_mb``, ``rss_growth_mb``, ``rss_peak_mb``,
``fps_first``, ``fps_last``, ``fps_ratio``, ``fps_ratio_median``,
``cpu_ratio_median``, ``frames_per_s_overall``), ``checks``
(``rss_growth_ok``, ``fps_constant``, ``cpu_per_frame_constant``), ``exit_code`` (infer_video's),
``settings`` (the command line and machine).
"""
import argparse
import copy
import gc
import importlib.util
import json
import os
import os.path as osp
import platform
import shutil
import sys
import tempfile
import time
from typing import List, Optional, Tuple

import cv2
import numpy as np
import psutil
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

# importing mmseg_pdnet registers the plugin's modules
from mmseg_pdnet.apis.video_io import AtomicVideoWriter, enable_fault_handler
from mmseg_pdnet.utils.benchmarking import cpu_model
from mmseg_pdnet.utils.cli import HelpFormatter, positive_float, positive_int

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_BASE = osp.join(ROOT, 'configs', '_base_', 'models', 'pdnet_r50.py')


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', nargs='?',
                        help='PDNet config (default: a tiny random-init '
                        'PDNet written to the work folder)')
    parser.add_argument('checkpoint', nargs='?',
                        help='its checkpoint (with CONFIG)')
    parser.add_argument('--frames', type=positive_int, default=10000,
                        help='frames of the synthetic clip')
    parser.add_argument('--size', type=positive_int, nargs=2,
                        default=(176, 144), metavar=('W', 'H'),
                        help='frame size of the synthetic clip')
    parser.add_argument('--video',
                        help='use this video instead of generating a clip')
    parser.add_argument('--every', type=positive_int, default=500,
                        help='frames between two samples')
    parser.add_argument('--warmup', type=int, default=1000,
                        help='frames before the growth and speed checks '
                        'start')
    parser.add_argument('--max-growth-mb', type=positive_float,
                        default=50.0,
                        help='allowed RSS growth after warm-up, MB')
    parser.add_argument('--speed-tolerance', type=positive_float,
                        default=0.2,
                        help='allowed relative change of frames/s, last '
                        'window vs the first after warm-up')
    parser.add_argument('--device', default='cpu',
                        help='device of the model')
    parser.add_argument('--threads', type=positive_int, default=1,
                        help='torch CPU threads (on a shared machine, '
                        'threads that wait for a descheduled core burn CPU '
                        'time and swamp the trend)')
    parser.add_argument('--codec', default='auto',
                        choices=('auto', 'h264', 'mp4v'),
                        help='codec of the clip and of the mask video')
    parser.add_argument('--plain', action='store_true',
                        help='mask output only: no contact sheet, no '
                        'reference refresh, no scene-cut detection')
    parser.add_argument('--work-dir',
                        help='folder for the clip, the tiny model and the '
                        'outputs, kept (default: a temporary folder, '
                        'deleted afterwards)')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--strict', action='store_true',
                        help='exit 1 when the RSS growth or the CPU time '
                        'per frame check fails (frames/s depends on the '
                        'machine\'s load; default: report only)')
    return parser


def load_infer_video():
    """``tools/infer_video.py`` as a module (a fresh instance)."""
    path = osp.join(ROOT, 'tools', 'infer_video.py')
    spec = importlib.util.spec_from_file_location('infer_video', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_clip(path: str, frames: int, size: Tuple[int, int],
              codec: str = 'auto', cut_every: int = 2000) -> str:
    """Write a synthetic clip quickly: a textured background drifting
    sideways, a head-and-shoulders shape swaying over it, the background's
    colour changing every ``cut_every`` frames (a scene cut).

    Args:
        path (str): The ``.mp4`` to write.
        frames (int): Frames of the clip.
        size (tuple[int, int]): ``(W, H)``.
        codec (str): See :class:`AtomicVideoWriter`.
        cut_every (int): Frames between two scene cuts.

    Returns:
        str: ``path``.
    """
    w, h = size
    rng = np.random.default_rng(0)
    # twice as wide, so that a horizontal slice of it drifts without a seam
    texture = cv2.GaussianBlur(
        rng.integers(0, 256, (h, 2 * w, 3), np.uint8), (0, 0), 3)
    palette = rng.integers(40, 200, (8, 3)).astype(np.int16)
    writer = AtomicVideoWriter(path, 25.0, codec=codec)
    try:
        for i in range(frames):
            x0 = (2 * i) % w
            tint = palette[(i // cut_every) % len(palette)]
            frame = np.clip(texture[:, x0:x0 + w].astype(np.int16) // 2
                            + tint, 0, 255).astype(np.uint8)
            cx = int(w / 2 + w / 5 * np.sin(i / 40))
            cy = int(h / 3 + h / 20 * np.cos(i / 25))
            cv2.ellipse(frame, (cx, cy), (w // 10, h // 7), 0, 0, 360,
                        (80, 140, 210), -1)
            cv2.ellipse(frame, (cx, h), (w // 5, h // 3), 0, 180, 360,
                        (60, 60, 160), -1)
            writer.write(frame)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def write_tiny_model(folder: str, input_size: int = 64) -> Tuple[str, str]:
    """A tiny random-init PDNet (ResNet-18 encoder, 3 parts) as a config
    file and a checkpoint, as the tests build it.

    Returns:
        tuple[str, str]: The config and checkpoint paths.
    """
    register_all_modules(init_default_scope=False)
    init_default_scope('mmseg')
    model = Config.fromfile(MODEL_BASE).model
    model.backbone.backbone.init_cfg = None  # no download
    model.part_loss.semantic_extractor.checkpoint = None
    cfg = Config(dict(model=model.to_dict()))
    cfg.merge_from_dict({
        'model.backbone.backbone.depth': 18,
        'model.backbone.decoder.in_channels': [64, 128, 256, 512],
        'model.neck.num_parts': 3,
    })
    cfg.merge_from_dict(dict(test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='LoadPairedImages'),
        dict(type='PairedResize', scale=input_size)
    ]))))
    config = osp.join(folder, 'tiny_pdnet.py')
    cfg.dump(config)
    torch.manual_seed(0)
    # the constructors' random init: init_weights() would only log a
    # page per parameter, and the weights do not matter here; no training
    # loss (the inferencer builds none either)
    net_cfg = copy.deepcopy(cfg.model)
    net_cfg.part_loss = None
    net = MODELS.build(net_cfg)
    checkpoint = osp.join(folder, 'tiny_pdnet.pth')
    torch.save({'state_dict': net.state_dict(), 'meta': {}}, checkpoint)
    return config, checkpoint


class Sampler:
    """Record RSS, speed and object counts every ``every`` frames.

    Args:
        every (int): Frames between two samples.
    """

    def __init__(self, every: int):
        self.every = every
        self.process = psutil.Process()
        self.samples: List[dict] = []
        self._last = None  # (frames, wall, cpu) of the previous sample

    def _cpu(self) -> float:
        t = self.process.cpu_times()
        return t.user + t.system

    def start(self) -> None:
        """The reference point of the first window."""
        self._last = (0, time.perf_counter(), self._cpu())

    def __call__(self, done: int, force: bool = False) -> None:
        """Called after frame ``done`` (1-based) was handed to the
        writer; samples every ``every`` frames (or when ``force``)."""
        if self._last is None:
            self.start()
        if not force and done % self.every:
            return
        frames0, wall0, cpu0 = self._last
        if done == frames0:
            return
        wall, cpu = time.perf_counter(), self._cpu()
        n = done - frames0
        self.samples.append(dict(
            frames=done,
            rss_mb=round(self.process.memory_info().rss / 2**20, 1),
            fps=round(n / max(wall - wall0, 1e-9), 1),
            cpu_ms_per_frame=round(1e3 * (cpu - cpu0) / n, 2),
            py_objects=len(gc.get_objects()),
            threads=self.process.num_threads()))
        # the sample itself (gc.get_objects) is not part of the next window
        self._last = (done, time.perf_counter(), self._cpu())


def run_infer_video(video: str, config: str, checkpoint: str, out_dir: str,
                    sampler: Sampler, device: str = 'cpu',
                    codec: str = 'auto', plain: bool = False,
                    total: Optional[int] = None) -> Tuple[int, List[str]]:
    """Run ``tools/infer_video.py``'s ``main()`` with mask output, the
    sampler called by its progress reporter after every frame.

    Returns:
        tuple: infer_video's exit code and its command line.
    """
    tool = load_infer_video()

    class SampledProgress(tool.Progress):
        """The tool's progress reporter, which also samples."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sampler.start()

        def update(self, done):
            super().update(done)
            sampler(done)

        def finish(self):
            sampler(self.done, force=True)
            super().finish()

    tool.Progress = SampledProgress
    argv = [video, config, checkpoint, '--out',
            osp.join(out_dir, 'masks.mp4'), '--output-type', 'mask',
            '--device', device, '--codec', codec, '--progress-every',
            str(max(1000, (total or 0) // 10))]
    if not plain:
        argv += ['--contact-sheet', osp.join(out_dir, 'sheet.png'),
                 '--refresh-every', '500', '--scene-cut-threshold', '30']
    return tool.main(argv), argv


def summarize(samples: List[dict], warmup: int, max_growth_mb: float,
              tolerance: float) -> Tuple[dict, dict]:
    """The growth and speed figures after warm-up, and the checks.

    Returns:
        tuple[dict, dict]: ``summary`` and ``checks`` (see the module
        docstring).
    """
    after = [s for s in samples if s['frames'] >= warmup]
    # the first sample at or after warm-up is the baseline of the growth;
    # the speed windows are those that start at or after warm-up
    windows = after[1:] if len(after) > 1 else after
    if not after:
        return {}, dict(rss_growth_ok=None, fps_constant=None,
                        cpu_per_frame_constant=None)

    def median_ratio(key):
        third = max(1, len(windows) // 3)
        first = float(np.median([s[key] for s in windows[:third]]))
        last = float(np.median([s[key] for s in windows[-third:]]))
        return round(last / first, 3) if first else None

    growth = after[-1]['rss_mb'] - after[0]['rss_mb']
    fps_ratio = round(windows[-1]['fps'] / windows[0]['fps'], 3) \
        if windows[0]['fps'] else None
    summary = dict(
        warmup_frames=warmup,
        rss_start_mb=after[0]['rss_mb'], rss_end_mb=after[-1]['rss_mb'],
        rss_growth_mb=round(growth, 1),
        rss_peak_mb=max(s['rss_mb'] for s in samples),
        py_objects_growth=after[-1]['py_objects'] - after[0]['py_objects'],
        fps_first=windows[0]['fps'], fps_last=windows[-1]['fps'],
        fps_ratio=fps_ratio,
        fps_ratio_median=median_ratio('fps'),
        cpu_ratio_median=median_ratio('cpu_ms_per_frame'))
    cpu_ratio = summary['cpu_ratio_median']
    checks = dict(
        rss_growth_ok=bool(growth < max_growth_mb),
        fps_constant=(None if fps_ratio is None else
                      bool(abs(fps_ratio - 1) <= tolerance)),
        cpu_per_frame_constant=(None if cpu_ratio is None else
                                bool(abs(cpu_ratio - 1) <= tolerance)))
    return summary, checks


def format_table(samples: List[dict]) -> str:
    """The samples as a Markdown table."""
    lines = ['| frames | RSS (MB) | frames/s | CPU ms/frame | Python objects '
             '| threads |', '| ---: | ---: | ---: | ---: | ---: | ---: |']
    for s in samples:
        lines.append(f"| {s['frames']} | {s['rss_mb']:.1f} | {s['fps']:.1f} "
                     f"| {s['cpu_ms_per_frame']:.2f} | {s['py_objects']} | "
                     f"{s['threads']} |")
    return '\n'.join(lines)


def machine() -> str:
    """The CPU model and core count (``lscpu``'s model name on Linux)."""
    return f'{cpu_model()}, {os.cpu_count()} cores'


def main(argv=None) -> int:
    # a segfault in the decoder or encoder thread prints that thread's
    # stack instead of ending the run without a word
    enable_fault_handler()
    args = build_parser().parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        print('long_video_memory: error: give CONFIG and CHECKPOINT, or '
              'neither (a tiny random-init model)', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    work = args.work_dir or tempfile.mkdtemp(prefix='long_video_')
    os.makedirs(work, exist_ok=True)
    try:
        if args.config is None:
            config, checkpoint = write_tiny_model(work)
        else:
            config, checkpoint = args.config, args.checkpoint
        video = args.video
        if video is None:
            t0 = time.perf_counter()
            video = make_clip(osp.join(work, 'clip.mp4'), args.frames,
                              tuple(args.size), args.codec)
            print(f'wrote {video} ({args.frames} frames, '
                  f'{time.perf_counter() - t0:.0f} s)', file=sys.stderr)
        sampler = Sampler(args.every)
        t0 = time.perf_counter()
        code, tool_argv = run_infer_video(
            video, config, checkpoint, work, sampler, args.device,
            args.codec, args.plain, args.frames)
        elapsed = time.perf_counter() - t0
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    samples = sampler.samples
    summary, checks = summarize(samples, args.warmup, args.max_growth_mb,
                                args.speed_tolerance)
    done = samples[-1]['frames'] if samples else 0
    summary['frames_processed'] = done
    summary['frames_per_s_overall'] = round(done / elapsed, 1) \
        if elapsed else None
    print(format_table(samples))
    for key, value in summary.items():
        print(f'{key}: {value}')
    for key, ok in checks.items():
        print(f'{key}: {"PASS" if ok else "FAIL"}')
    result = dict(
        samples=samples, summary=summary, checks=checks, exit_code=code,
        settings=dict(
            argv=sys.argv if argv is None else list(argv),
            infer_video_argv=tool_argv, frames=args.frames,
            size=list(args.size), every=args.every,
            max_growth_mb=args.max_growth_mb,
            speed_tolerance=args.speed_tolerance, device=args.device,
            threads=args.threads,
            plain=args.plain, machine=machine(),
            load_average_start=load_start,
            load_average_end=list(os.getloadavg()),
            python=platform.python_version()))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'wrote {args.json}')
    if code != 0:
        return code
    # a shared machine's load breaks frames/s, not the memory: --strict
    # fails on the memory and CPU-time checks
    failed = not (checks['rss_growth_ok'] and
                  checks['cpu_per_frame_constant'])
    return 1 if args.strict and failed else 0


if __name__ == '__main__':
    sys.exit(main())
