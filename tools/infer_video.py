#!/usr/bin/env python
"""Segment the portrait in a video, with background replacement.

Examples:
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mp4 \\
        --output-type background --background '#00B140'
    python tools/infer_video.py frames/ CONFIG CKPT --out masks --png \\
        --output-type mask
    python tools/infer_video.py --camera 0 CONFIG CKPT --out cam.mp4

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
"""
import argparse
import os
import os.path as osp
import sys
import time
import warnings

import numpy as np
import torch

from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.apis.compositing import (ContactSheetSampler, colour_parts,
                                          contact_sheet, fit_background,
                                          overlay, parse_background, render)
from mmseg_pdnet.apis.video_io import (CODECS, AtomicVideoWriter,
                                       BackgroundWriter, IncompleteVideoError,
                                       PrefetchIterator, VideoIONote,
                                       VideoIOWarning, check_output_path,
                                       enable_fault_handler, limit_frames,
                                       open_source)
from mmseg_pdnet.utils.amp import add_amp_argument
from mmseg_pdnet.datasets.image_io import IMAGE_SUFFIXES
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   check_checkpoint_path, check_device,
                                   check_output_dir, check_output_file,
                                   load_config, positive_float, positive_int)

OUTPUT_TYPES = ('mask', 'overlay', 'alpha', 'background', 'side-by-side')
USAGE = ('infer_video.py INPUT CONFIG CHECKPOINT --out PATH [options] (or '
         'CONFIG CHECKPOINT with --camera)')
#: frames decoded ahead / waiting to be encoded (bounded: memory)
QUEUE_SIZE = 8


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter,
        usage='%(prog)s [INPUT] CONFIG CHECKPOINT --out PATH [options] '
        '(INPUT: a video file or a folder of frames; omit it with --camera)')
    parser.add_argument(
        'paths', nargs='+', metavar='INPUT CONFIG CHECKPOINT',
        help='the video file or frame folder (not with --camera), the '
        'config file and the checkpoint (ours, or the authors\' file as '
        'it is), in this order')
    parser.add_argument('--out', required=True,
                        help='output video (.mp4, .mov, .mkv, .avi), or a '
                        'folder with --png')
    parser.add_argument('--output-type', choices=OUTPUT_TYPES,
                        default='overlay',
                        help='mask: white portrait on black; overlay: '
                        'tinted portrait with its outline; alpha: the '
                        'foreground probability as grey levels; '
                        'background: the portrait over --background; '
                        'side-by-side: the input next to the overlay')
    parser.add_argument('--background', default='blur',
                        help="with --output-type background: 'blur', "
                        "'#RRGGBB' or an image path (scaled to cover the "
                        'frame, then cropped at the centre: aspect kept)')
    parser.add_argument('--save-parts', action='store_true',
                        help='also write coloured part maps to '
                        '<out>_parts.mp4 (<out>_parts/ with --png)')
    parser.add_argument('--camera', type=int, metavar='INDEX',
                        help='read the webcam of this index instead of '
                        'INPUT')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda, cuda:1, ... (default: cuda when '
                        'available, else cpu)')
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
                        'mp4v with a note')
    parser.add_argument('--refresh-every', type=positive_int, metavar='N',
                        help='renew the reference every N frames (default: '
                        'keep the first frame)')
    parser.add_argument('--scene-cut-threshold', type=positive_float,
                        metavar='T',
                        help='renew the reference on a scene cut (mean '
                        'abs. thumbnail difference, 0-255; e.g. 30)')
    parser.add_argument('--input-size', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='model input size (default: the config\'s '
                        'test resize)')
    parser.add_argument('--max-frames', type=positive_int, metavar='N',
                        help='stop after N frames (N >= 1; default: all)')
    parser.add_argument('--contact-sheet', metavar='PNG',
                        help='also write a PNG of 8 frames sampled over the '
                        'whole clip (frame, overlay, parts), each row '
                        'labelled with its frame index')
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
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    expected = 2 if args.camera is not None else 3
    if len(args.paths) != expected:
        parser.error('expected INPUT CONFIG CHECKPOINT (or CONFIG CHECKPOINT '
                     f'with --camera), got {len(args.paths)} path(s)')
    return args


class Progress:
    """Frames done, frames/s and ETA, on stderr.

    On a terminal: one status line rewritten in place (at most ~10 times a
    second). Elsewhere (a log file, a pipe, CI) carriage returns would make
    one huge line, so a plain line is printed every ``every`` frames and
    a summary line at the end.

    Args:
        total (int, optional): Frames expected (for the ETA).
        stream (file, optional): Defaults to ``sys.stderr``.
        every (int): Frames between two lines when ``stream`` is not a
            terminal. Defaults to 100.
    """

    def __init__(self, total=None, stream=None, every=100):
        self.total, self.stream = total, stream or sys.stderr
        self.every = every
        isatty = getattr(self.stream, 'isatty', None)
        self.tty = bool(isatty and isatty())
        self.start = time.perf_counter()
        self.done, self._last_draw = 0, 0.0

    def message(self, done):
        elapsed = time.perf_counter() - self.start
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = max(0, self.total - done) / fps if fps > 0 else 0.0
            return (f'{done}/{self.total} frames, {fps:.1f} frames/s, ETA '
                    f'{eta:.0f} s')
        return f'{done} frames, {fps:.1f} frames/s'

    def update(self, done):
        self.done = done
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self.stream.write('\r' + self.message(done))
                self.stream.flush()
        elif done % self.every == 0:
            self.stream.write(self.message(done) + '\n')
            self.stream.flush()

    def finish(self):
        elapsed = time.perf_counter() - self.start
        fps = self.done / elapsed if elapsed > 0 else 0.0
        summary = f'{self.done} frames in {elapsed:.1f} s, {fps:.1f} frames/s'
        self.stream.write(('\r' + summary + '\x1b[K\n') if self.tty
                          else summary + '\n')
        self.stream.flush()


class PartialOutputError(OSError):
    """Some outputs were written, one (or more) could not be.

    Args:
        message (str): Which output failed and why.
        written (list[str]): The outputs that are finished (kept).
    """

    def __init__(self, message, written):
        super().__init__(message)
        self.written = written


def parts_path(args):
    """``<out>_parts.mp4`` (``<out>_parts`` with --png)."""
    stem, ext = osp.splitext(osp.normpath(args.out))
    return f'{stem}_parts{"" if args.png else ext}'


def check_outputs(args):
    """Every output path, before any work: one line for the first that
    cannot be written (missing folders are fine: they are created)."""
    check_output_path(args.out, args.png)
    check = check_output_dir if args.png else check_output_file
    check(args.out, '--out')
    if args.save_parts:
        check(parts_path(args), '--save-parts')
    if args.contact_sheet:
        check_output_file(args.contact_sheet, '--contact-sheet',
                          IMAGE_SUFFIXES)


class OutputWriter:
    """Render and write the outputs of one frame (in the writer thread).

    Args:
        args (argparse.Namespace): The parsed command line.
        fps (float): Frame rate of the videos.
        background: Output of :func:`parse_background`, or None.
    """

    def __init__(self, args, fps, background=None):
        self.args, self.background = args, background
        self.writer = AtomicVideoWriter(args.out, fps, png=args.png,
                                        codec=args.codec)
        self.parts_writer = None
        if args.save_parts:
            try:
                self.parts_writer = AtomicVideoWriter(
                    parts_path(args), fps, png=args.png, codec=args.codec)
            except BaseException:
                self.writer.abort()  # its partial folder (--png) goes too
                raise
        self.sheet = ContactSheetSampler() if args.contact_sheet else None

    def __call__(self, res):
        if isinstance(self.background, np.ndarray) and \
                self.background.shape[:2] != res.frame.shape[:2]:
            # fitted once, not on every frame
            self.background = fit_background(self.background,
                                             res.frame.shape[:2])
        self.writer.write(render(self.args.output_type, res.frame, res.mask,
                                 res.prob, self.background))
        want_sheet = self.sheet is not None and self.sheet.wants(res.index)
        parts = None
        if res.parts is not None and (self.parts_writer or want_sheet):
            parts = colour_parts(res.parts, res.frame.shape[:2])
        if self.parts_writer is not None:
            self.parts_writer.write(parts)
        if want_sheet:
            row = [res.frame, overlay(res.frame, res.mask)]
            self.sheet.add(res.index, row + ([parts] if parts is not None
                                             else []))

    def close(self):
        """Finish every output; returns their paths.

        Each output is finished on its own: one that fails does not take
        the others with it.

        Raises:
            PartialOutputError: an output failed (named in the message);
                ``written`` holds the finished ones.
        """
        written, failed = [], []
        for flag, w in (('--out', self.writer),
                        ('--save-parts', self.parts_writer)):
            if w is None:
                continue
            try:
                written.append(w.close())
            except Exception as e:  # noqa: B902  reported below
                w.abort()
                failed.append(f'{flag} {w.out}: could not be finished '
                              f'({" ".join(str(e).split())})')
        if self.sheet is not None:
            indices, rows = self.sheet.rows()
            try:
                written.append(contact_sheet(
                    rows, self.args.contact_sheet,
                    labels=[f'frame {i}' for i in indices],
                    titles=['frame', 'overlay', 'parts']))
            except Exception as e:  # noqa: B902  reported below
                failed.append(f'--contact-sheet: '
                              f'{" ".join(str(e).split())}')
        if failed:
            raise PartialOutputError('; '.join(failed), written)
        return written

    def abort(self):
        for w in (self.writer, self.parts_writer):
            if w is not None:
                w.abort()


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


def run(args):
    source = args.camera if args.camera is not None else args.paths[0]
    config, checkpoint = args.paths[-2:]
    # cheap checks first: a wrong order or device fails in a second, not
    # after building the model
    load_config(config, USAGE)
    check_checkpoint_path(checkpoint, USAGE)
    check_device(args.device)
    if args.compile:
        check_compile(args.device)
    check_outputs(args)
    background = parse_background(args.background) \
        if args.output_type == 'background' else None
    inferencer = VideoPortraitInferencer(
        config, checkpoint, device=args.device, input_size=args.input_size,
        refresh_every=args.refresh_every,
        scene_cut_threshold=args.scene_cut_threshold, amp=args.amp,
        channels_last=args.channels_last, compile=args.compile)
    # fails early on bad input
    frames, total, fps = open_source(source, args.allow_partial)
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    fps = args.fps or fps
    outputs = OutputWriter(args, fps, background)
    progress = Progress(total, every=args.progress_every)
    need_parts = bool(args.save_parts or args.contact_sheet)
    # decoding (reader thread), the model (here) and encoding (writer
    # thread) overlap; both queues are bounded
    reader = PrefetchIterator(limit_frames(frames, args.max_frames),
                              QUEUE_SIZE)
    writer = BackgroundWriter(outputs, QUEUE_SIZE)
    results = inferencer(reader, return_parts=need_parts)
    try:
        for res in results:
            writer.submit(res)
            progress.update(res.index + 1)
        writer.close()  # raises the writer thread's error, if any
        progress.finish()
        return outputs.close()
    except BaseException:
        progress.finish()
        results.close()
        reader.close()
        writer.abort()
        outputs.abort()
        raise
    finally:
        reader.close()


def main(argv=None):
    args = parse_args(argv)
    # a segfault in a decoder thread cannot become a one-line error (it
    # ends the process): at least print which thread's stack crashed
    enable_fault_handler()
    error, written = None, []
    # video I/O warnings (partial decode, padded frames) become one line
    # each after the progress line; other warnings are shown as usual
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', VideoIOWarning)
        warnings.simplefilter('always', VideoIONote)
        try:
            written = run(args)
        except PartialOutputError as e:
            written = e.written
            kept = ', '.join(written) or 'none'
            error = f'{e} (kept the finished outputs: {kept})'
        except IncompleteVideoError as e:
            error = (f'{e}; --allow-partial writes the {e.decoded} decoded '
                     'frames')
        except CLIError as e:
            error = str(e)
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            error = ' '.join(str(e).split()) or type(e).__name__
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
    for path in written:
        print(f'wrote {path}')
    if error is not None:
        print(f'infer_video: error: {error}'
              + ('' if written else ' (no output written)'), file=sys.stderr)
        return 130 if error == 'interrupted' else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
