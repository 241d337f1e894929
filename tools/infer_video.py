#!/usr/bin/env python
"""Segment the portrait in a video, with background replacement.

Examples:
    python tools/infer_video.py in.mp4 CONFIG CKPT --out out.mp4 \
        --output-type background --background '#00B140'
    python tools/infer_video.py frames/ CONFIG CKPT --out masks --png \
        --output-type mask
    python tools/infer_video.py --camera 0 CONFIG CKPT --out cam.mp4

Outputs appear only when the run succeeds (written under a temporary name
first); on an error the partial output is removed and the tool says so.
A video that decodes fewer frames than its container declares is an error
(exit 1) unless ``--allow-partial`` is given (then a warning says how many
frames were written). MP4 frames of odd width or height are padded to even
size (a warning states both sizes); ``--png`` keeps the exact size.
"""
import argparse
import os.path as osp
import sys
import time
import warnings

from mmseg_pdnet.apis import (AtomicVideoWriter, VideoPortraitInferencer,
                              colour_parts, contact_sheet, open_source,
                              overlay, parse_background, render)
from mmseg_pdnet.apis.video_io import IncompleteVideoError, VideoIOWarning

OUTPUT_TYPES = ('mask', 'overlay', 'alpha', 'background')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='PDNet video portrait segmentation',
        usage='%(prog)s [INPUT] CONFIG CHECKPOINT --out PATH [options] '
        '(INPUT: a video file or a folder of frames; omit it with --camera)')
    parser.add_argument('paths', nargs='+', metavar='INPUT CONFIG CHECKPOINT')
    parser.add_argument('--out', required=True,
                        help='output .mp4 (or folder with --png)')
    parser.add_argument('--output-type', choices=OUTPUT_TYPES,
                        default='overlay')
    parser.add_argument('--background', default='blur',
                        help="'blur', '#RRGGBB' or an image path")
    parser.add_argument('--save-parts', action='store_true',
                        help='also write coloured part maps to '
                        '<out>_parts.mp4')
    parser.add_argument('--camera', type=int, help='webcam index')
    parser.add_argument('--device', default=None, help='cpu, cuda, cuda:1')
    parser.add_argument('--amp', nargs='?', const=True, default=False,
                        choices=(True, 'fp16', 'bf16'),
                        help='mixed precision: --amp (fp16 on CUDA, bf16 on '
                        'CPU), --amp fp16 or --amp bf16')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last memory format (with --amp on '
                        'CUDA)')
    parser.add_argument('--png', action='store_true',
                        help='write a PNG sequence instead of an MP4')
    parser.add_argument('--refresh-every', type=int,
                        help='renew the reference every N frames')
    parser.add_argument('--scene-cut-threshold', type=float,
                        help='renew the reference on a scene cut (mean '
                        'abs. thumbnail difference, 0-255; e.g. 30)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--max-frames', type=int,
                        help='stop after N frames')
    parser.add_argument('--contact-sheet',
                        help='PNG of sampled frames, masks and parts')
    parser.add_argument('--fps', type=float, help='output frame rate')
    parser.add_argument('--allow-partial', action='store_true',
                        help='when a video decodes fewer frames than its '
                        'container declares (truncated or damaged file), '
                        'write the decoded frames with a warning instead of '
                        'failing')
    args = parser.parse_args(argv)
    expected = 2 if args.camera is not None else 3
    if len(args.paths) != expected:
        parser.error('expected INPUT CONFIG CHECKPOINT (or CONFIG CHECKPOINT '
                     f'with --camera), got {len(args.paths)} path(s)')
    return args


class Progress:
    """One status line: frames, frames/s and ETA."""

    def __init__(self, total=None, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.start = time.perf_counter()

    def update(self, done):
        elapsed = time.perf_counter() - self.start
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - done) / fps if fps > 0 else 0.0
            msg = f'{done}/{self.total} frames, {fps:.1f} frames/s, ' \
                  f'ETA {eta:.0f} s'
        else:
            msg = f'{done} frames, {fps:.1f} frames/s'
        self.stream.write('\r' + msg)
        self.stream.flush()

    def finish(self):
        self.stream.write('\n')


def run(args):
    source = args.camera if args.camera is not None else args.paths[0]
    config, checkpoint = args.paths[-2:]
    background = parse_background(args.background) \
        if args.output_type == 'background' else None
    inferencer = VideoPortraitInferencer(
        config, checkpoint, device=args.device, input_size=args.input_size,
        refresh_every=args.refresh_every,
        scene_cut_threshold=args.scene_cut_threshold, amp=args.amp,
        channels_last=args.channels_last)
    # fails early on bad input
    frames, total, fps = open_source(source, args.allow_partial)
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    fps = args.fps or fps
    writer = AtomicVideoWriter(args.out, fps, png=args.png)
    stem, ext = osp.splitext(args.out)
    parts_writer = AtomicVideoWriter(f'{stem}_parts{"" if args.png else ext}',
                                     fps, png=args.png) \
        if args.save_parts else None
    writers = [w for w in (writer, parts_writer) if w is not None]
    sheet_rows, progress = [], Progress(total)
    try:
        need_parts = args.save_parts or args.contact_sheet
        for res in inferencer(frames, return_parts=bool(need_parts)):
            if args.max_frames and res.index >= args.max_frames:
                break
            writer.write(render(args.output_type, res.frame, res.mask,
                                res.prob, background))
            parts = None
            if res.parts is not None:
                parts = colour_parts(res.parts, res.frame.shape[:2])
                if parts_writer is not None:
                    parts_writer.write(parts)
            if args.contact_sheet and (res.index % 10 == 0):
                row = [res.frame, overlay(res.frame, res.mask)]
                sheet_rows.append(row + ([parts] if parts is not None else []))
            progress.update(res.index + 1)
        progress.finish()
        written = [w.close() for w in writers]
    except BaseException:
        progress.finish()
        for w in writers:
            w.abort()
        raise
    if args.contact_sheet:
        written.append(contact_sheet(sheet_rows[:8], args.contact_sheet))
    return written


def main(argv=None):
    args = parse_args(argv)
    error = None
    # video I/O warnings (partial decode, padded frames) become one line
    # each after the progress line; other warnings are shown as usual
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', VideoIOWarning)
        try:
            written = run(args)
        except IncompleteVideoError as e:
            error = (f'{e}; --allow-partial writes the {e.decoded} decoded '
                     'frames')
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            error = str(e)
    for w in caught:
        if issubclass(w.category, VideoIOWarning):
            print(f'infer_video: warning: {w.message}', file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename,
                                 w.lineno)
    if error is not None:
        print(f'infer_video: error: {error} (no output written)',
              file=sys.stderr)
        return 1
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
