#!/usr/bin/env python
"""Measure every GPU figure of PDNet in one command (about 5-8 minutes).

On one CUDA GPU, from a set-up clone, writes
``work_dirs/gpu_report/report.json`` (everything) and ``report.md`` (the
tables), section by section (a section that fails is reported and the
next one runs; the files are rewritten after each):

1. ``cuda_tests``: ``pytest -k cuda`` over the test files with CUDA-only
   tests (passed / failed / skipped);
2. ``inference``: paired, streaming and the single-frame baseline at
   480x480, batch 1 and 8, fp32 and fp16 + channels_last, eager and CUDA
   graphs, in ONE interleaved run: frames/s, the streaming/baseline
   ratio, peak memory;
3. ``training``: the training step (batch 2, 480x480, p = 5) in fp32, AMP,
   AMP + channels_last and compiled: ms per step, peak memory, aten
   operators per step;
4. ``nvenc``: whether PyAV's ``h264_nvenc`` / ``hevc_nvenc`` encode here;
5. ``video``: ``tools/infer_video.py --amp fp16 --channels-last
   --compile`` end to end on a generated 854x480 clip of 600 frames and a
   1920x1080 one, mask output: frames/s (and the decode / model / encode
   ms per frame when its summary gives them);
6. ``recipe``: ``tools/train.py`` on the paper config (AMP) with
   generated MVPS-layout clips and still images, one epoch of about 30
   image and video iterations with a checkpoint, then ``--resume`` for a
   second epoch with validation.

Every section uses the paper config (``configs/pdnet/pdnet_r50_2xb2-60e_
mvps-480x480.py``) with random weights (no download; speed does not
depend on the weights), written to ``OUT_DIR/pdnet_report.py``.

Exit status 0, or 2 when a section failed (the report says how).
Without CUDA it stops with one line (exit status 1). ``--device cpu
--tiny`` runs every code path at tiny sizes on a CPU (what the test
suite does): its numbers check the tool, they measure nothing worth
quoting.

Example::

    python tools/analysis_tools/gpu_report.py
    python tools/analysis_tools/gpu_report.py --sections inference training
"""
import argparse
import contextlib
import datetime
import json
import os
import os.path as osp
import sys
import time
from typing import Optional

import torch
from mmengine.logging import MMLogger
from mmseg.utils import register_all_modules

import mmseg_pdnet  # noqa: F401  (registers the plugin)
from mmseg_pdnet.utils.benchmarking import device_name
from mmseg_pdnet.utils.benchmarking.models import load_pdnet_config
from mmseg_pdnet.utils.gpu_report.clips import write_clip
from mmseg_pdnet.utils.gpu_report.cuda_tests import (cuda_test_files,
                                                     run_cuda_tests)
from mmseg_pdnet.utils.gpu_report.inference_matrix import measure_inference
from mmseg_pdnet.utils.gpu_report.markdown import render
from mmseg_pdnet.utils.gpu_report.nvenc import probe_all
from mmseg_pdnet.utils.gpu_report.recipe_run import run_recipe
from mmseg_pdnet.utils.gpu_report.report_config import write_report_config
from mmseg_pdnet.utils.gpu_report.sizes import full_sizes, tiny_sizes
from mmseg_pdnet.utils.gpu_report.training_matrix import measure_training
from mmseg_pdnet.utils.gpu_report.video_e2e import (run_infer_video,
                                                    save_random_checkpoint)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_CONFIG = osp.join(ROOT, 'configs', 'pdnet',
                        'pdnet_r50_2xb2-60e_mvps-480x480.py')
SECTIONS = ('cuda_tests', 'inference', 'training', 'nvenc', 'video',
            'recipe')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out-dir', default='work_dirs/gpu_report',
                        help='folder of report.json, report.md and the '
                        'generated clips, data and runs')
    parser.add_argument('--device', default='cuda', choices=('cuda', 'cpu'),
                        help='cpu only checks the tool (with --tiny)')
    parser.add_argument('--tiny', action='store_true',
                        help='tiny sizes: a check of the code paths')
    parser.add_argument('--sections', nargs='+', choices=SECTIONS,
                        default=list(SECTIONS), help='sections to run')
    parser.add_argument('--cuda-tests', nargs='+', metavar='FILE',
                        help='test files of the cuda_tests section '
                        '(default: every test file that asks '
                        'torch.cuda.is_available())')
    parser.add_argument('--config', default=PAPER_CONFIG,
                        help='the training config measured')
    parser.add_argument('--budget-s', type=float, default=480,
                        help='sections not started within this many '
                        'seconds are skipped (and reported so)')
    return parser.parse_args(argv)


def section_video(args, sizes, config: str) -> dict:
    clips_dir = osp.join(args.out_dir, 'clips')
    os.makedirs(clips_dir, exist_ok=True)
    ckpt = save_random_checkpoint(config, osp.join(args.out_dir,
                                                   'pdnet_random.pth'))
    extra = ['--amp', 'fp16', '--channels-last', '--compile'] \
        if args.device == 'cuda' else []
    clips = {}
    for name, (w, h, n) in sizes.clips.items():
        start = time.perf_counter()
        clip = write_clip(osp.join(clips_dir, f'clip_{name}.mp4'), w, h, n)
        write_s = time.perf_counter() - start
        run = run_infer_video(ROOT, clip, config, ckpt,
                              osp.join(clips_dir, f'mask_{name}.mp4'),
                              args.device, sizes.timeout_s['video'], extra)
        clips[name] = dict(size=f'{w}x{h}', frames=n, clip_write_s=write_s,
                           **run)
    return dict(options=' '.join(extra) or '(CPU: no options)',
                clips=clips)


def run_sections(args, sizes) -> dict:
    config = write_report_config(
        args.config, osp.join(args.out_dir, 'pdnet_report.py'), sizes.size,
        sizes.workers, sizes.model_options, sizes.serialize_data)
    model_cfg = load_pdnet_config(config).model
    tests = args.cuda_tests or cuda_test_files(ROOT)
    jobs = dict(
        cuda_tests=lambda: run_cuda_tests(ROOT, args.out_dir, tests,
                                          sizes.timeout_s['cuda_tests']),
        inference=lambda: measure_inference(
            model_cfg, args.device, sizes.size, sizes.batches, sizes.warmup,
            sizes.repeats),
        training=lambda: measure_training(
            model_cfg, args.device, sizes.size, sizes.train_batch,
            sizes.train_warmup, sizes.train_repeats, sizes.compile_backend),
        nvenc=probe_all,
        video=lambda: section_video(args, sizes, config),
        recipe=lambda: run_recipe(
            ROOT, config, osp.join(args.out_dir, 'recipe'),
            *sizes.recipe_clips, sizes.recipe_frame,
            sizes.timeout_s['recipe']),
    )
    report = dict(
        device=device_name(args.device), torch=torch.__version__,
        cuda=torch.version.cuda, date=datetime.datetime.now(
            datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        command='python tools/analysis_tools/gpu_report.py ' +
        ' '.join(sys.argv[1:] if args.argv is None else args.argv),
        settings=dict(sizes.to_dict(), tiny=args.tiny, device=args.device,
                      config=args.config),
        sections={}, wall_s=0.0)
    start = time.perf_counter()
    for name in SECTIONS:
        if name not in args.sections:
            continue
        began = time.perf_counter()
        if began - start > args.budget_s:
            report['sections'][name] = dict(
                error=f'skipped: the report had run {began - start:.0f} s '
                f'(--budget-s {args.budget_s:g})', wall_s=0.0)
        else:
            print(f'gpu_report: {name} ...', flush=True)
            try:
                result = jobs[name]()
                report['sections'][name] = dict(
                    result=result, wall_s=time.perf_counter() - began)
            except Exception as e:  # noqa: B902  reported; the next runs
                report['sections'][name] = dict(
                    error=f'{type(e).__name__}: {e}'[:500],
                    wall_s=time.perf_counter() - began)
            if args.device == 'cuda':  # room for the next section
                torch._dynamo.reset()
                torch.cuda.empty_cache()
        state = 'failed' if 'error' in report['sections'][name] else 'done'
        print(f'gpu_report: {name} {state} in '
              f'{report["sections"][name]["wall_s"]:.1f} s', flush=True)
        report['wall_s'] = time.perf_counter() - start
        write_report(report, args.out_dir)
    return report


def problems(report: dict) -> list:
    """Sections that failed, or whose tests or subprocesses did."""
    found = []
    for name, section in report['sections'].items():
        result = section.get('result')
        if 'error' in section:
            found.append(name)
        elif name == 'cuda_tests' and result['returncode'] != 0:
            found.append(f'{name} ({result["failed"]} failed, '
                         f'{result["errors"]} errors)')
        elif name == 'video' and any(r['returncode'] != 0 for r in
                                     result['clips'].values()):
            found.append(name)
        elif name == 'recipe' and any(
                result.get(k, {}).get('returncode', 1) != 0
                for k in ('first', 'resumed')):
            found.append(name)
    return found


def write_report(report: dict, out_dir: str) -> None:
    with open(osp.join(out_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=2)
    with open(osp.join(out_dir, 'report.md'), 'w') as f:
        f.write(render(report))


@contextlib.contextmanager
def cpu_threads(threads: Optional[int]):
    """Run the report's torch and its subprocesses (``OMP_NUM_THREADS``)
    on ``threads`` threads (None: as they are). On a CPU the report checks
    the tool, on a machine others may share: one thread each is the
    cheapest and the steadiest."""
    if threads is None:
        yield
        return
    saved = torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS')
    torch.set_num_threads(threads)
    os.environ['OMP_NUM_THREADS'] = str(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        if saved[1] is None:
            os.environ.pop('OMP_NUM_THREADS')
        else:
            os.environ['OMP_NUM_THREADS'] = saved[1]


def main(argv=None) -> int:
    args = parse_args(argv)
    args.argv = argv
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_report: error: no CUDA device (torch.cuda.is_available() '
              'is False); this report measures a GPU (--device cpu --tiny '
              'checks the tool itself)', file=sys.stderr)
        return 1
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    # absolute: the subprocesses run in the repository root
    args.out_dir = osp.abspath(args.out_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    # WARNING: keeps init_weights' and the graph runner's INFO lines out
    MMLogger.get_instance('gpu_report', log_level='WARNING')
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    sizes = tiny_sizes() if args.tiny else full_sizes()
    with cpu_threads(1 if args.device == 'cpu' else None):
        report = run_sections(args, sizes)
    failed = problems(report)
    print(f'gpu_report: wrote {osp.join(args.out_dir, "report.md")} and '
          f'report.json in {report["wall_s"]:.0f} s'
          + (f'; failed: {", ".join(failed)}' if failed else ''))
    return 2 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
