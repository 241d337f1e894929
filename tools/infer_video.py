#!/usr/bin/env python
"""Segment the portrait in videos, with background replacement.

Examples:
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mp4 \\
        --output-type background --background '#00B140'
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mp4 \\
        --output-type background --background beach.mp4
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mov \\
        --output-type rgba
    python tools/infer_video.py 'clips/*.mp4' CONFIG CKPT --out out_dir
    bash tools/dist_infer.sh CONFIG CKPT 2 clips/ --out out_dir
    python tools/infer_video.py frames/ CONFIG CKPT --out masks --png \\
        --output-type mask
    python tools/infer_video.py --camera 0 CONFIG CKPT --show
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mp4 \\
        --upsampling guided --no-temporal-filter

INPUT is a video file or a folder of frames (images, sorted by name: one
video). A folder of videos, a quoted glob ('clips/*.mp4'; matching videos
and frame folders) or several INPUTs make a many-input run: the model is
loaded once, --out is a folder and each output is named after its input
(<name><--ext>, or the folder <name>/ with --png); a folder that holds
both frames and videos, or neither, is refused. Each input gets its own
progress line ([i/N] name), one that fails does not stop the others, and
the run ends with a table (file, frames, frames/s, time per stage,
status); the exit status is 1 when any input failed. Under torchrun
(--launcher pytorch, tools/dist_infer.sh) rank r of W takes the inputs
r, r+W, r+2W, ... of the sorted list, and rank 0 prints the table of all.

Each input ends with its time per frame of decode (the reader thread),
model (the main loop without its waits) and render/encode (the writer
thread): the three overlap, so the slowest bounds the speed.

--output-type rgba writes the frame with the foreground probability as
its alpha channel: a PNG sequence (--png), ProRes 4444 (.mov) or VP9
(.webm). Video outputs of a video input carry its audio (--no-audio drops
it). --show opens a window with the composited frame and frames/s; q or
Esc stops there and finishes the outputs (--out may then be left out).

Outputs appear only when the run succeeds (written under a temporary name
first); on an error or Ctrl-C the partial output is removed and the tool
says so. Every output path (--out, --save-parts, --contact-sheet) is
checked before the model is built: missing folders are created, a path
that cannot be written is refused in one line. Should one output still
fail at the end, the finished ones are kept and the error names the one
that failed. A video that decodes fewer frames than its container declares is
an error (exit 1) unless --allow-partial is given (then a warning says how
many frames were written). MP4s are H.264 when PyAV is installed
(pip install av), else MPEG-4 Part 2 with a note; frames of odd width or
height are padded to even size (a warning states both sizes); --png keeps
the exact size. Frames are decoded and the output encoded in background
threads, so the model does not wait on I/O.

Two post-processing steps: --upsampling guided (off by default)
upsamples the probability to the frame along the frame's own edges (a
fast guided filter) instead of bilinearly, and the temporal filter (on by
default, --no-temporal-filter turns it off) steadies the masks from frame
to frame where the picture is still and the prediction unsure. On the
demo's test clips the filter raised both J&F and the temporal stability;
both steps are measured in README.md ("Run on your video"), with
tools/analysis_tools/postprocessing_eval.py.

A model that calls an mmcv op which this environment lacks (mmcv
installed without its compiled ops) ends with one line naming the op and
the command that builds them (exit 1).
"""
import argparse
import os
import os.path as osp
import sys
import time
import warnings
from dataclasses import dataclass
from typing import List, Optional, Union

import torch

from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.apis.batch_inputs import (batch_outputs, clip_name,
                                           expand_inputs, shard)
from mmseg_pdnet.apis.compositing import parse_background
from mmseg_pdnet.apis.preview import PreviewWindow, display_unavailable
from mmseg_pdnet.apis.run_summary import (ClipReport, Progress, WaitTimer,
                                          format_table)
from mmseg_pdnet.apis.video_encode import ALPHA_ENCODERS, encoder_unavailable
from mmseg_pdnet.apis.video_io import (CODECS, BackgroundWriter,
                                       IncompleteVideoError, PrefetchIterator,
                                       VideoIONote, VideoIOWarning,
                                       check_output_path,
                                       enable_fault_handler, has_audio,
                                       limit_frames, open_source)
from mmseg_pdnet.apis.video_outputs import (LatestFramePreview, OutputWriter,
                                            PartialOutputError, parts_path)
from mmseg_pdnet.engine.runner import close_distributed
from mmseg_pdnet.engine.runner.cpu_distributed import exit_after_distributed
from mmseg_pdnet.utils.amp import add_amp_argument
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   add_launcher_arguments,
                                   check_checkpoint_path, check_device,
                                   check_output_dir, check_output_file,
                                   export_local_rank, load_config,
                                   positive_float, positive_int)
from mmseg_pdnet.utils.file_types import (ALPHA_VIDEO_SUFFIXES,
                                          IMAGE_SUFFIXES, VIDEO_SUFFIXES)
from mmseg_pdnet.utils.mmcv_ops import MMCVOpNotCompiled

OUTPUT_TYPES = ('mask', 'overlay', 'alpha', 'rgba', 'background',
                'side-by-side')
USAGE = ('infer_video.py INPUT CONFIG CHECKPOINT --out PATH [options] (or '
         'CONFIG CHECKPOINT with --camera)')
#: frames decoded ahead / waiting to be encoded (bounded: memory)
QUEUE_SIZE = 8
#: suffixes of output videos (those that carry alpha included)
OUTPUT_SUFFIXES = tuple(dict.fromkeys(VIDEO_SUFFIXES + ALPHA_VIDEO_SUFFIXES))
#: errors that end one input with a one-line message (the others go on)
INPUT_ERRORS = (OSError, ValueError, TypeError, RuntimeError)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter,
        usage='%(prog)s [INPUT ...] CONFIG CHECKPOINT --out PATH [options] '
        '(INPUT: a video file, a folder of frames, a folder of videos or a '
        'quoted glob; omit it with --camera)')
    parser.add_argument(
        'paths', nargs='+', metavar='INPUT CONFIG CHECKPOINT',
        help='the input(s) (not with --camera): video files, frame '
        'folders, folders of videos or quoted globs; then the config file '
        'and the checkpoint (ours, or the authors\' file as it is), in '
        'this order')
    parser.add_argument('--out',
                        help='output video (.mp4, .mov, .mkv, .avi; .mov or '
                        '.webm with --output-type rgba), or a folder with '
                        '--png; with many inputs a folder that receives '
                        'one output per input, named after it. Not needed '
                        'with --show (a preview only)')
    parser.add_argument('--ext', choices=OUTPUT_SUFFIXES,
                        help='with many inputs: the suffix of each output '
                        'video (default: .mp4; with --output-type rgba '
                        f'{ALPHA_VIDEO_SUFFIXES[0]})')
    parser.add_argument('--output-type', choices=OUTPUT_TYPES,
                        default='overlay',
                        help='mask: white portrait on black; overlay: '
                        'tinted portrait with its outline; alpha: the '
                        'foreground probability as grey levels; rgba: the '
                        'frame with the probability as alpha (transparent '
                        'background; --png, .mov or .webm); background: '
                        'the portrait over --background; side-by-side: '
                        'the input next to the overlay')
    parser.add_argument('--background', default='blur',
                        help="with --output-type background: 'blur', a "
                        f"video ({'/'.join(VIDEO_SUFFIXES)}: streamed, "
                        'looped or cut to the input\'s length), '
                        "'#RRGGBB' or an image path (scaled to cover the "
                        'frame, then cropped at the centre: aspect kept)')
    parser.add_argument('--no-audio', action='store_true',
                        help='leave the input\'s audio out of the output '
                        'video (by default a video input\'s audio is '
                        'kept, cut to the output\'s length)')
    parser.add_argument('--save-parts', action='store_true',
                        help='also write coloured part maps to '
                        '<out>_parts.mp4 (<out>_parts/ with --png)')
    parser.add_argument('--camera', type=int, metavar='INDEX',
                        help='read the webcam of this index instead of '
                        'INPUT')
    parser.add_argument('--show', action='store_true',
                        help='show the output frames and frames/s in a '
                        'window while working; q or Esc stops and '
                        'finishes the outputs (needs a display)')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda, cuda:1, ... (default: cuda when '
                        'available, else cpu; cuda:LOCAL_RANK under '
                        'torchrun)')
    add_amp_argument(parser, 'the model')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last memory format (with --amp on '
                        'CUDA)')
    parser.add_argument('--compile', action='store_true',
                        help='replay each frame\'s forward as a CUDA graph '
                        '(less CPU overhead per frame; CUDA only)')
    parser.add_argument('--png', action='store_true',
                        help='write a PNG sequence into the --out folder '
                        'instead of a video')
    parser.add_argument('--codec', choices=CODECS, default='auto',
                        help='video codec: h264 needs PyAV (pip install av; '
                        'plays in browsers); mp4v is MPEG-4 Part 2 '
                        '(OpenCV); auto: h264 when PyAV is installed, else '
                        'mp4v with a note (rgba: the container\'s alpha '
                        'codec)')
    parser.add_argument('--refresh-every', type=positive_int, metavar='N',
                        help='renew the reference every N frames (default: '
                        'keep the first frame)')
    parser.add_argument('--scene-cut-threshold', type=positive_float,
                        metavar='T',
                        help='renew the reference on a scene cut (mean '
                        'abs. thumbnail difference, 0-255; e.g. 30)')
    parser.add_argument('--upsampling', choices=('bilinear', 'guided'),
                        default='bilinear',
                        help='from the model size to the frame: bilinear '
                        '(as the model\'s own predict), or guided: '
                        'edge-aware upsampling of the probability, guided '
                        'by the frame (measured in README.md, "Run on your '
                        'video")')
    parser.add_argument('--guided-radius', type=positive_int, metavar='R',
                        help='with --upsampling guided: window radius in '
                        'pixels of the model input (default: 6; a larger '
                        'input wants a proportionally larger one)')
    parser.add_argument('--guided-eps', type=positive_float, metavar='EPS',
                        help='with --upsampling guided: regularisation '
                        '(guide in [0, 1]); edges of contrast above about '
                        'sqrt(EPS) are followed (default: 1e-3)')
    parser.add_argument('--temporal-filter',
                        # None, not False: BooleanOptionalAction would
                        # print "(default: False)" itself
                        action=argparse.BooleanOptionalAction,
                        help='steadier masks frame to frame: smooth the '
                        'probability over time where the picture is still '
                        'and the prediction unsure (restarts at each new '
                        'reference; measured in README.md, "Run on your '
                        'video"); on unless --no-temporal-filter, which '
                        'writes the model\'s own per-frame probabilities')
    parser.add_argument('--input-size', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='model input size (default: the config\'s '
                        'test resize)')
    parser.add_argument('--max-frames', type=positive_int, metavar='N',
                        help='stop after N frames (N >= 1; default: all)')
    parser.add_argument('--contact-sheet', metavar='PNG',
                        help='also write a PNG of 8 frames sampled over the '
                        'whole clip (frame, overlay, parts), each row '
                        'labelled with its frame index; with many inputs '
                        'a folder receiving <name>.png per input')
    parser.add_argument('--fps', type=positive_float,
                        help='output frame rate (default: the input\'s, 25 '
                        'for frame folders)')
    parser.add_argument('--progress-every', type=positive_int, default=100,
                        metavar='N',
                        help='when stderr is not a terminal (a log file), '
                        'print a progress line every N frames')
    parser.add_argument('--allow-partial', action='store_true',
                        help='when a video decodes fewer frames than its '
                        'container declares (truncated or damaged file), '
                        'write the decoded frames with a warning instead of '
                        'failing')
    add_launcher_arguments(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.camera is not None and len(args.paths) != 2:
        parser.error('expected CONFIG CHECKPOINT with --camera, got '
                     f'{len(args.paths)} path(s)')
    if args.camera is None and len(args.paths) < 3:
        parser.error('expected INPUT CONFIG CHECKPOINT (or CONFIG CHECKPOINT '
                     f'with --camera), got {len(args.paths)} path(s)')
    if args.out is None and not args.show:
        parser.error('the following argument is required: --out (or --show '
                     'for a preview only)')
    if args.upsampling != 'guided':
        for flag in ('guided_radius', 'guided_eps'):
            if getattr(args, flag) is not None:
                parser.error(f'--{flag.replace("_", "-")} needs --upsampling '
                             'guided')
    return args


def upsampling_option(args):
    """``VideoPortraitInferencer(upsampling=...)`` of the command line:
    ``'bilinear'``, or a dict of :class:`GuidedUpsampler` arguments (only
    those given: the class keeps its defaults)."""
    if args.upsampling != 'guided':
        return args.upsampling
    given = dict(radius=args.guided_radius, eps=args.guided_eps)
    return {k: v for k, v in given.items() if v is not None}


@dataclass
class Job:
    """One input of the run and its outputs.

    Attributes:
        source (str | int): Video file, frame folder or camera index.
        name (str): How messages and the summary name it.
        index (int): Position in the sorted input list, from 1.
        count (int): Inputs of the whole run.
        out (str, optional): Output video / PNG folder (None: preview
            only).
        parts (str, optional): The part-map output (--save-parts).
        sheet (str, optional): The contact sheet (--contact-sheet).
    """
    source: Union[str, int]
    name: str
    index: int = 1
    count: int = 1
    out: Optional[str] = None
    parts: Optional[str] = None
    sheet: Optional[str] = None

    @property
    def prefix(self):
        """Put before its progress lines in many-input runs."""
        return f'[{self.index}/{self.count}] {self.name}: ' \
            if self.count > 1 else ''


def plan_jobs(args) -> List[Job]:
    """The inputs of the run with their output paths (all ranks)."""
    if args.camera is not None:
        inputs, batch = [args.camera], False
    else:
        expanded = expand_inputs(args.paths[:-2])
        inputs, batch = expanded.clips, expanded.batch
    if not batch:
        out = args.out
        return [Job(inputs[0], f'camera {inputs[0]}' if args.camera
                    is not None else str(inputs[0]), out=out,
                    parts=parts_path(out, args.png)
                    if args.save_parts and out else None,
                    sheet=args.contact_sheet)]
    if args.out is None:
        raise CLIError(f'{len(inputs)} inputs need --out, a folder for '
                       'their outputs (--show alone previews one input)')
    if osp.splitext(osp.normpath(args.out))[1].lower() in \
            OUTPUT_SUFFIXES + IMAGE_SUFFIXES or osp.isfile(args.out):
        raise CLIError(f'--out {args.out}: with {len(inputs)} inputs, --out '
                       'is a folder (each output is named after its input)')
    if args.contact_sheet and osp.splitext(
            args.contact_sheet)[1].lower() in IMAGE_SUFFIXES:
        raise CLIError(f'--contact-sheet {args.contact_sheet}: with '
                       f'{len(inputs)} inputs, give a folder (it receives '
                       '<name>.png per input)')
    suffix = '' if args.png else output_suffix(args)
    outs = batch_outputs(inputs, args.out, suffix)
    return [Job(clip, clip, index=i + 1, count=len(inputs), out=outs[clip],
                parts=parts_path(outs[clip], args.png)
                if args.save_parts else None,
                sheet=osp.join(args.contact_sheet, clip_name(clip) + '.png')
                if args.contact_sheet else None)
            for i, clip in enumerate(inputs)]


def output_suffix(args):
    """The suffix of the output videos of a many-input run."""
    if args.ext:
        return args.ext
    return ALPHA_VIDEO_SUFFIXES[0] if args.output_type == 'rgba' else '.mp4'


def check_alpha_container(out):
    """A video with alpha needs a container and an encoder that carry it:
    one line before the model is built, not after."""
    ext = osp.splitext(out)[1].lower()
    if ext not in ALPHA_VIDEO_SUFFIXES:
        raise CLIError(f'--output-type rgba: {out} cannot carry an alpha '
                       f'channel; give a {"/".join(ALPHA_VIDEO_SUFFIXES)} '
                       'name (or --png for PNGs with alpha)')
    encoder = ALPHA_ENCODERS[ext]
    reason = encoder_unavailable(encoder.encoder)
    if reason is not None:
        raise CLIError(f'--output-type rgba: {out} needs {encoder.codec} '
                       f'with alpha: {reason} (or --png for PNGs with '
                       'alpha)')


def check_outputs(args, job):
    """Every output path of ``job``, before any work: one line for the
    first that cannot be written (missing folders are fine: they are
    created)."""
    if job.out is None:
        if args.save_parts:
            raise CLIError('--save-parts writes next to --out: give --out')
    else:
        if args.output_type == 'rgba' and not args.png:
            check_alpha_container(job.out)
        check_output_path(job.out, args.png)
        check = check_output_dir if args.png else check_output_file
        check(job.out, '--out')
        if job.parts:
            check(job.parts, '--save-parts')
    if job.sheet:
        check_output_file(job.sheet, '--contact-sheet', IMAGE_SUFFIXES)


def check_compile(device):
    """``--compile`` (CUDA graphs) runs on CUDA only: say so in one line
    that names the device, before the model is built."""
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.device(device).type != 'cuda':
        raise CLIError(f'--compile needs a CUDA device, but the run would '
                       f'use {device}'
                       + ('' if torch.cuda.is_available() else
                          ' (CUDA is not available)')
                       + '; drop --compile')


def start_launcher(args):
    """Join the torchrun process group; returns ``(rank, world size)``.

    Only the summary travels between the ranks (Python objects), so the
    group is gloo whatever the device.
    """
    if args.launcher == 'none':
        return 0, 1
    if args.launcher != 'pytorch':
        raise CLIError(f'--launcher {args.launcher}: infer_video shards its '
                       'inputs under torchrun: use --launcher pytorch')
    if args.camera is not None or args.show:
        raise CLIError('--launcher pytorch shards many inputs over '
                       'processes: not with --camera or --show')
    export_local_rank(args)
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return dist.get_rank(), dist.get_world_size()


def describe(error):
    """The one-line message of an error that ends an input."""
    if isinstance(error, PartialOutputError):
        kept = ', '.join(error.written) or 'none'
        return f'{error} (kept the finished outputs: {kept})'
    if isinstance(error, IncompleteVideoError):
        return (f'{error}; --allow-partial writes the {error.decoded} '
                'decoded frames')
    if isinstance(error, CLIError):
        return str(error)
    return ' '.join(str(error).split()) or type(error).__name__


def wants_audio(args, job):
    """The video whose audio the output of ``job`` gets, or None."""
    if args.no_audio or args.png or job.out is None or \
            not isinstance(job.source, str) or not osp.isfile(job.source):
        return None
    return job.source if has_audio(job.source) else None


def process(args, inferencer, job, background, window=None):
    """Segment one input and write its outputs.

    Returns:
        tuple[list[str], ClipReport]: The outputs written and the report.
    """
    report = ClipReport(job.name, index=job.index)
    start = time.perf_counter()
    # fails early on bad input
    frames, total, fps = open_source(job.source, args.allow_partial)
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    outputs = OutputWriter(args.output_type, job.out, args.fps or fps,
                           png=args.png, codec=args.codec, parts=job.parts,
                           sheet=job.sheet, background=background,
                           audio_from=wants_audio(args, job),
                           keep_latest=window is not None)
    progress = Progress(total, every=args.progress_every, prefix=job.prefix)
    need_parts = bool(job.parts or job.sheet)
    # decoding (reader thread), the model (here) and encoding (writer
    # thread) overlap; both queues are bounded
    reader = PrefetchIterator(limit_frames(frames, args.max_frames),
                              QUEUE_SIZE)
    timed_reader = WaitTimer(reader)
    writer = BackgroundWriter(outputs, QUEUE_SIZE)
    results = inferencer(timed_reader, return_parts=need_parts)
    preview = LatestFramePreview(window, outputs, progress.rate,
                                 job.name if job.count > 1 else None)
    waits = 0.0
    try:
        for res in results:
            t = time.perf_counter()
            writer.submit(res)
            progress.update(res.index + 1)
            report.frames = res.index + 1
            keep_going = preview.update()
            waits += time.perf_counter() - t
            if not keep_going:
                report.status = 'stopped'
                break
        loop = time.perf_counter() - start
        results.close()
        writer.close()  # raises the writer thread's error, if any
        progress.finish()
        # the last frame too: the window shows every input at least once
        if report.status != 'stopped' and not preview.update():
            report.status = 'stopped'
        written = outputs.close()
    except BaseException:
        progress.finish()
        results.close()
        reader.close()
        writer.abort()
        outputs.abort()
        raise
    finally:
        reader.close()
    report.seconds = time.perf_counter() - start
    report.decode_s, report.render_s = reader.busy_s, writer.busy_s
    report.model_s = max(0.0, loop - waits - timed_reader.wait_s)
    if report.status == 'stopped':
        print(f'{job.prefix}stopped from the preview window after '
              f'{report.frames} frames', file=sys.stderr)
    print(f'{job.prefix}{report.stage_line()}', file=sys.stderr)
    return written, report


@dataclass
class Outcome:
    """What :func:`run` did, for :func:`main` to print.

    Attributes:
        written (list[str]): Finished outputs (of this process).
        reports (list[ClipReport]): Many-input runs: every input (on rank
            0 of a distributed run; empty on the others).
        batch (bool): A many-input run.
        world_size (int): Processes of the run (torchrun).
    """
    written: list
    reports: list
    batch: bool = False
    world_size: int = 1


def gather_reports(reports, world_size):
    """All ranks' reports in input order (the same list on every rank)."""
    if world_size == 1:
        return reports
    import torch.distributed as dist
    every: list = [None] * world_size
    dist.all_gather_object(every, reports)
    return sorted((r for part in every for r in part),
                  key=lambda r: r.index)


def run(args, outcome):
    # cheap checks first: a wrong order or device fails in a second, not
    # after building the model
    config, checkpoint = args.paths[-2:]
    load_config(config, USAGE)
    check_checkpoint_path(checkpoint, USAGE)
    check_device(args.device)
    if args.compile:
        check_compile(args.device)
    if args.output_type == 'rgba' and args.codec != 'auto':
        raise CLIError(f'--codec {args.codec}: --output-type rgba takes the '
                       'alpha codec of its container (.mov: ProRes 4444, '
                       '.webm: VP9); drop --codec')
    if args.show:
        reason = display_unavailable()
        if reason is not None:
            raise CLIError(f'--show: {reason}')
    jobs = plan_jobs(args)
    outcome.batch = jobs[0].count > 1
    rank, world = start_launcher(args)
    outcome.world_size = world
    jobs = shard(jobs, rank, world)
    for job in jobs:
        check_outputs(args, job)
    background = parse_background(args.background) \
        if args.output_type == 'background' else None
    device = args.device
    if world > 1 and torch.cuda.is_available() and device in (None, 'cuda'):
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", rank))}'
    # a rank without inputs (more ranks than inputs) builds no model
    inferencer = VideoPortraitInferencer(
        config, checkpoint, device=device, input_size=args.input_size,
        refresh_every=args.refresh_every,
        scene_cut_threshold=args.scene_cut_threshold, amp=args.amp,
        channels_last=args.channels_last, compile=args.compile,
        upsampling=upsampling_option(args),
        # on unless --no-temporal-filter (None: the flag not given)
        temporal_filter=args.temporal_filter is not False) if jobs else None
    window = PreviewWindow() if args.show else None
    reports, stopped = [], False
    try:
        for job in jobs:
            if stopped:
                reports.append(ClipReport(job.name, index=job.index,
                                          status='skipped', rank=rank))
                continue
            try:
                written, report = process(args, inferencer, job, background,
                                          window)
            except INPUT_ERRORS as e:
                # a missing mmcv op fails every input alike: end the run
                if not outcome.batch or isinstance(e, MMCVOpNotCompiled):
                    raise
                written = getattr(e, 'written', [])
                report = ClipReport(job.name, index=job.index,
                                    status='failed', error=describe(e))
            report.rank = rank
            outcome.written += written
            reports.append(report)
            stopped = report.status == 'stopped'
    finally:
        if window is not None:
            window.close()
    if outcome.batch:
        reports = gather_reports(reports, world)
        outcome.reports = reports if rank == 0 else []


def print_summary(outcome):
    """The table of a many-input run and its failures; returns whether
    any input failed."""
    if not outcome.reports:
        return False
    print(format_table(outcome.reports, ranks=outcome.world_size > 1),
          file=sys.stderr)
    failed = [r for r in outcome.reports if r.status == 'failed']
    for r in failed:
        print(f'infer_video: error: [{r.index}/{len(outcome.reports)}] '
              f'{r.error}', file=sys.stderr)
    if failed:
        print(f'infer_video: error: {len(failed)} of {len(outcome.reports)} '
              'inputs failed (the others were written)', file=sys.stderr)
    return bool(failed)


def main(argv=None):
    args = parse_args(argv)
    # a segfault in a decoder thread cannot become a one-line error (it
    # ends the process): at least print which thread's stack crashed
    enable_fault_handler()
    error, outcome = None, Outcome([], [])
    # video I/O warnings (partial decode, padded frames) become one line
    # each after the progress line; other warnings are shown as usual
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', VideoIOWarning)
        warnings.simplefilter('always', VideoIONote)
        try:
            run(args, outcome)
        except PartialOutputError as e:
            outcome.written += e.written
            error = describe(e)
        except INPUT_ERRORS as e:
            error = describe(e)
        except KeyboardInterrupt:
            error = 'interrupted'
    for w in caught:
        if issubclass(w.category, VideoIONote):
            print(f'infer_video: note: {w.message}', file=sys.stderr)
        elif issubclass(w.category, VideoIOWarning):
            print(f'infer_video: warning: {w.message}', file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename,
                                 w.lineno)
    for path in outcome.written:
        print(f'wrote {path}')
    code = 1 if print_summary(outcome) else 0
    if error is not None:
        print(f'infer_video: error: {error}'
              + ('' if outcome.written else ' (no output written)'),
              file=sys.stderr)
        code = 130 if error == 'interrupted' else 1
    sys.stdout.flush()
    # the ranks meet before leaving (a rank that failed does not wait)
    close_distributed(completed=error is None)
    if code == 0:
        exit_after_distributed()
    return code


if __name__ == '__main__':
    sys.exit(main())
