#!/usr/bin/env python
"""Validate a video portrait dataset root and summarise it.

Checks every clip of the MVPS layout (``Keyframes/480p``,
``Annotations/480p``, ``ImageSets/*.txt``) or the DAVIS layout
(``JPEGImages/480p``, ``Annotations/480p``, ``ImageSets/<year>/*.txt``)
or still images + masks (``images``, ``masks``: the converters' output):
split files that are empty or name missing clips, clip folders without
frames, clips without masks, frames without masks, masks without frames,
annotation folders without frames, unknown MVPS categories in
``ImageSets/categories.txt``, unreadable or truncated files, masks whose
size differs from their frame, frames whose size differs from the first
frame of their clip, images above the decoders' pixel limit (decompression
bombs), masks whose values cannot be masks (above 255, or not integers);
one-frame clips are counted (they are usable: such
a frame is its own reference).

Masks with values other than 0/255, 0/1 or palette ids (e.g. 0/128/255,
anti-aliased edges) are usable but a WARNING shows their values: training
reads masks as soft targets (value / 255, so 128 is a 0.5 target) while
testing counts every value > 0 as foreground.

Prints a summary (clips, frames, annotated frames, resolution range,
frames without masks, non-binary masks), every problem and warning with
its path; exits with 1 when there is a problem (or, with ``--strict``, a
warning).

Example:
    python tools/misc/check_dataset.py data/demo
"""
import argparse
import difflib
import os
import os.path as osp
import sys
from collections import Counter

from mmseg_pdnet.datasets.image_io import read_frame
from mmseg_pdnet.datasets.validation import (SOFT_MASK_USE, judge_mask,
                                             value_histogram)
from mmseg_pdnet.datasets.video_portrait_dataset import (IMAGE_SUFFIXES,
                                                         MVPSDataset)
from mmseg_pdnet.utils.cli import HelpFormatter

LAYOUTS = {
    'mvps': ('Keyframes/480p', 'Annotations/480p'),
    'davis': ('JPEGImages/480p', 'Annotations/480p'),
    # still images (PortraitImageDataset, the converters' output)
    'images': ('images', 'masks'),
}


def detect_layout(root):
    for name, (img_dir, ann_dir) in LAYOUTS.items():
        if osp.isdir(osp.join(root, img_dir)) and osp.isdir(
                osp.join(root, ann_dir)):
            return name
    raise FileNotFoundError(
        f'{root}: neither the MVPS (Keyframes/480p, Annotations/480p), the '
        'DAVIS (JPEGImages/480p, Annotations/480p) nor the image (images, '
        'masks) layout')


def split_files(root):
    sets = osp.join(root, 'ImageSets')
    out = []
    for dirpath, _, files in os.walk(sets):
        out += [osp.join(dirpath, f) for f in sorted(files)
                if f.endswith('.txt') and f != 'categories.txt']
    return sorted(out)


def check_categories(root, clips):
    """Problems of ``ImageSets/categories.txt`` (MVPS scenario mapping)."""
    path = osp.join(root, 'ImageSets', 'categories.txt')
    if not osp.isfile(path):
        return []
    problems = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            if len(parts) != 2:
                problems.append(f'{path}:{lineno}: expected "<seq> '
                                f'<category>", got {line.strip()!r}')
            elif parts[1] not in MVPSDataset.CATEGORIES:
                close = difflib.get_close_matches(
                    parts[1], MVPSDataset.CATEGORIES, n=1)
                problems.append(f'{path}:{lineno}: unknown category '
                                f'{parts[1]!r}' + (f' (did you mean '
                                                   f'{close[0]!r}?)'
                                                   if close else ''))
            elif parts[0] not in clips:
                problems.append(f'{path}:{lineno}: clip {parts[0]!r} does '
                                'not exist')
    return problems


def _area(shape):
    return shape[0] * shape[1]


#: non-binary masks listed one by one (a soft-edged dataset has many)
MAX_LISTED = 10


def check_mask(path):
    """Read a mask and judge its values (the split validation of training
    and testing judges them with the same function).

    Returns:
        tuple: ``(shape, problem, values)``: the ``(H, W)`` size; an error
        string for values that cannot be a mask, else None; the
        ``(values, counts)`` histogram when the values are not 0/255, 0/1
        or palette ids (usable as soft targets), else None.
    """
    return judge_mask(path)


def _split_clips(root):
    """Split file -> listed clip names."""
    out = {}
    for split in split_files(root):
        with open(split) as f:
            out[split] = [line.strip() for line in f if line.strip()]
    return out


def check(root, layout=None):
    """Check a dataset root.

    Args:
        root (str): Dataset root.
        layout (str, optional): A key of :data:`LAYOUTS`; detected when
            None.

    Returns:
        tuple: ``(summary dict, problems, warnings)``; problems and
        warnings (masks with values other than 0/255, 0/1 or palette ids,
        with their histogram) are lists of strings starting with the path.
    """
    layout = layout or detect_layout(root)
    img_root, ann_root = (osp.join(root, d) for d in LAYOUTS[layout])
    problems, warnings, stats = [], [], Counter()
    sizes = []
    if layout == 'images':  # one flat folder: a "clip" named ''
        clips = ['']
    else:
        clips = sorted(d for d in os.listdir(img_root)
                       if osp.isdir(osp.join(img_root, d)))
    listed_in = {}  # clip -> split files listing it
    for split, names in _split_clips(root).items():
        if not names:
            problems.append(f'{split}: empty split file')
        for name in names:
            listed_in.setdefault(name, []).append(osp.basename(split))
            if name not in clips:
                problems.append(f'{split}: clip {name!r} has no folder in '
                                f'{img_root}')
    if osp.isdir(ann_root) and layout != 'images':
        for clip in sorted(os.listdir(ann_root)):
            if osp.isdir(osp.join(ann_root, clip)) and clip not in clips:
                problems.append(f'{osp.join(ann_root, clip)}: annotation '
                                f'folder without a frame folder in {img_root}')
    problems += check_categories(root, clips)
    unannotated = []
    for clip in clips:
        clip_dir = osp.join(img_root, clip)
        frames = {osp.splitext(f)[0]: f for f in os.listdir(clip_dir)
                  if f.lower().endswith(IMAGE_SUFFIXES)}
        ann_dir = osp.join(ann_root, clip)
        masks = {osp.splitext(f)[0]: f for f in os.listdir(ann_dir)
                 if f.endswith('.png')} if osp.isdir(ann_dir) else {}
        listed = (f' (listed in {", ".join(listed_in[clip])})'
                  if clip in listed_in else '')
        stats['clips'] += 1
        stats['frames'] += len(frames)
        stats['annotated'] += len(masks.keys() & frames.keys())
        if len(frames) == 1:
            stats['one_frame_clips'] += 1
        if not frames:
            problems.append(f'{clip_dir}: holds no frames '
                            f'({"/".join(IMAGE_SUFFIXES)}){listed}')
        elif not masks:  # one line for the clip, not one per frame
            problems.append(
                f'{ann_dir}: no masks for the {len(frames)} frame(s) of '
                f'{clip_dir}{listed}')
        for stem in sorted(masks.keys() - frames.keys()):
            problems.append(f'{osp.join(ann_dir, masks[stem])}: mask without '
                            'a frame')
        first = None  # (path, size) of the clip's first readable frame
        for stem in sorted(frames):
            path = osp.join(img_root, clip, frames[stem])
            try:
                shape = read_frame(path).shape[:2]
            except (OSError, ValueError) as e:
                problems.append(str(e))
                continue
            sizes.append(shape)
            if first is None:
                first = (path, shape)
            elif shape != first[1] and layout != 'images':
                # a target and its reference are concatenated: one size
                # per clip (still images are their own reference)
                problems.append(f'{path}: frame size {shape} differs from '
                                f'the first frame of its clip {first[0]} '
                                f'{first[1]}')
            if stem not in masks:
                if masks:
                    unannotated.append(path)
                continue
            mask_path = osp.join(ann_dir, masks[stem])
            try:
                mask_shape, problem, hist = check_mask(mask_path)
            except (OSError, ValueError) as e:
                problems.append(str(e))
                continue
            if problem:
                problems.append(problem)
            elif hist is not None:
                warnings.append(f'{mask_path}: mask values '
                                f'{value_histogram(*hist)}')
            if mask_shape != shape:
                problems.append(f'{mask_path}: mask size {mask_shape} differs '
                                f'from its frame {shape}')
    if layout != 'davis':  # MVPS keyframes and images are all annotated
        problems += [f'{p}: frame without a mask' for p in unannotated]
    summary = dict(
        layout=layout,
        clips=stats['clips'] if layout != 'images' else None,
        frames=stats['frames'],
        annotated_frames=stats['annotated'],
        frames_without_masks=len(unannotated),
        non_binary_masks=len(warnings),
        one_frame_clips=(stats['one_frame_clips']
                         if layout != 'images' else None),
        min_resolution=min(sizes, key=_area) if sizes else None,
        max_resolution=max(sizes, key=_area) if sizes else None)
    return summary, problems, warnings


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('root', help='dataset root')
    parser.add_argument('--layout', choices=sorted(LAYOUTS),
                        help='the folder layout (default: detected from the '
                        'folders under root)')
    parser.add_argument('--strict', action='store_true',
                        help='exit with 1 on warnings too')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        summary, problems, warnings = check(args.root, args.layout)
    except OSError as e:
        print(f'check_dataset: error: {e}', file=sys.stderr)
        return 1
    for key, value in summary.items():
        print(f'{key:>22}: {value}')
    if warnings:
        print(f'WARNING {len(warnings)} mask(s) hold values other than '
              f'0/255, 0/1 or palette ids: {SOFT_MASK_USE}')
        for warning in warnings[:MAX_LISTED]:
            print(f'WARNING {warning}')
        if len(warnings) > MAX_LISTED:
            print(f'WARNING ... and {len(warnings) - MAX_LISTED} more such '
                  'mask(s)')
    for problem in problems:
        print(f'PROBLEM {problem}')
    print(f'{len(problems)} problem(s), {len(warnings)} warning(s)')
    return 1 if problems or (args.strict and warnings) else 0


if __name__ == '__main__':
    sys.exit(main())
