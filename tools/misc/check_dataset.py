#!/usr/bin/env python
"""Validate a video portrait dataset root and summarise it.

Checks every clip of the MVPS layout (``Keyframes/480p``,
``Annotations/480p``, ``ImageSets/*.txt``) or the DAVIS layout
(``JPEGImages/480p``, ``Annotations/480p``, ``ImageSets/<year>/*.txt``)
or still images + masks (``images``, ``masks``: the converters' output):
split files that are empty or name missing clips, frames without masks,
masks without frames, annotation folders without frames, unknown MVPS
categories in ``ImageSets/categories.txt``, unreadable or truncated
files, masks whose size differs from their frame; one-frame clips are
counted (they are usable: such a frame is its own reference). Prints a
summary (clips, frames, annotated frames, resolution range, frames
without masks) and every problem with its path; exits with 1 when there
is a problem.

Example:
    python tools/misc/check_dataset.py data/demo
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter

from mmseg_pdnet.datasets.image_io import read_frame, read_mask
from mmseg_pdnet.datasets.video_portrait_dataset import (IMAGE_SUFFIXES,
                                                         MVPSDataset)

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
                problems.append(f'{path}:{lineno}: unknown category '
                                f'{parts[1]!r}')
            elif parts[0] not in clips:
                problems.append(f'{path}:{lineno}: clip {parts[0]!r} does '
                                'not exist')
    return problems


def _area(shape):
    return shape[0] * shape[1]


def check(root, layout=None):
    """Return ``(summary dict, list of problem strings)``."""
    layout = layout or detect_layout(root)
    img_root, ann_root = (osp.join(root, d) for d in LAYOUTS[layout])
    problems, stats = [], Counter()
    sizes = []
    if layout == 'images':  # one flat folder: a "clip" named ''
        clips = ['']
    else:
        clips = sorted(d for d in os.listdir(img_root)
                       if osp.isdir(osp.join(img_root, d)))
    for split in split_files(root):
        with open(split) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            problems.append(f'{split}: empty split file')
        for name in names:
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
        frames = {osp.splitext(f)[0]: f for f in os.listdir(
            osp.join(img_root, clip)) if f.lower().endswith(IMAGE_SUFFIXES)}
        ann_dir = osp.join(ann_root, clip)
        masks = {osp.splitext(f)[0]: f for f in os.listdir(ann_dir)
                 if f.endswith('.png')} if osp.isdir(ann_dir) else {}
        stats['clips'] += 1
        stats['frames'] += len(frames)
        stats['annotated'] += len(masks.keys() & frames.keys())
        if len(frames) == 1:
            stats['one_frame_clips'] += 1
        for stem in sorted(masks.keys() - frames.keys()):
            problems.append(f'{osp.join(ann_dir, masks[stem])}: mask without '
                            'a frame')
        for stem in sorted(frames):
            path = osp.join(img_root, clip, frames[stem])
            try:
                shape = read_frame(path).shape[:2]
            except (OSError, ValueError) as e:
                problems.append(str(e))
                continue
            sizes.append(shape)
            if stem not in masks:
                unannotated.append(path)
                continue
            mask_path = osp.join(ann_dir, masks[stem])
            try:
                mask_shape = read_mask(mask_path).shape
            except (OSError, ValueError) as e:
                problems.append(str(e))
                continue
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
        one_frame_clips=(stats['one_frame_clips']
                         if layout != 'images' else None),
        min_resolution=min(sizes, key=_area) if sizes else None,
        max_resolution=max(sizes, key=_area) if sizes else None)
    return summary, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='dataset root')
    parser.add_argument('--layout', choices=sorted(LAYOUTS))
    args = parser.parse_args(argv)
    try:
        summary, problems = check(args.root, args.layout)
    except OSError as e:
        print(f'check_dataset: error: {e}', file=sys.stderr)
        return 1
    for key, value in summary.items():
        print(f'{key:>22}: {value}')
    for problem in problems:
        print(f'PROBLEM {problem}')
    print(f'{len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
