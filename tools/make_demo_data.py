#!/usr/bin/env python
"""Generate the bundled synthetic demo dataset (MVPS layout).

Writes ``Keyframes/480p``, ``Annotations/480p`` (0/255 masks),
``ImageSets/train.txt``, ``ImageSets/val.txt`` (the evaluation clips, as
the MVPS release names its evaluation split) and
``ImageSets/categories.txt``, and ``design.json`` (the arguments that
made it).

Example:
    python tools/make_demo_data.py --out data/demo
    # exit status 0 when data/demo holds exactly this design, 1 otherwise
    python tools/make_demo_data.py --out data/demo --check
"""
import argparse
import sys
import time

from mmseg_pdnet.datasets.synthetic import (design_record, make_demo_dataset,
                                            read_design)


def parse_args(argv=None):
    # the defaults are make_demo_dataset's own
    default = design_record()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/demo', help='output root')
    parser.add_argument('--seed', type=int, default=default['seed'])
    parser.add_argument('--train-clips', type=int,
                        default=default['train_clips'])
    parser.add_argument('--test-clips', type=int,
                        default=default['test_clips'],
                        help='evaluation clips (ImageSets/val.txt)')
    parser.add_argument('--min-frames', type=int,
                        default=default['min_frames'])
    parser.add_argument('--max-frames', type=int,
                        default=default['max_frames'])
    parser.add_argument('--height', type=int, default=default['height'])
    parser.add_argument('--width', type=int, default=default['width'])
    parser.add_argument('--figure-scale', type=float, nargs=2,
                        default=default['figure_scale'],
                        metavar=('MIN', 'MAX'),
                        help='figure scale range, fraction of the height')
    parser.add_argument('--max-figures', type=int,
                        default=default['max_figures'])
    parser.add_argument('--posters', type=int, default=default['posters'],
                        help='most posters (static painted figures, not '
                        'portrait) per clip')
    parser.add_argument('--passers', type=int, default=default['passers'],
                        help='most passers-by (figures entering after the '
                        'first frame, not portrait) per clip')
    parser.add_argument('--max-pan', type=float, default=default['max_pan'],
                        help='largest camera pan, pixels per frame')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 0 when --out holds the '
                        'clips of exactly these arguments (its design.json), '
                        'else 1')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    design = dict(
        seed=args.seed, train_clips=args.train_clips,
        test_clips=args.test_clips, min_frames=args.min_frames,
        max_frames=args.max_frames, height=args.height, width=args.width,
        figure_scale=tuple(args.figure_scale), max_figures=args.max_figures,
        posters=args.posters, passers=args.passers, max_pan=args.max_pan)
    if args.check:
        found = read_design(args.out)
        if found is None:
            print(f'{args.out}: no demo clips (no design.json)')
            return 1
        if found != design_record(**design):
            print(f'{args.out}: demo clips of another design: {found}')
            return 1
        print(f'{args.out}: demo clips up to date')
        return 0
    start = time.perf_counter()
    splits = make_demo_dataset(args.out, **design)
    print(f'wrote {len(splits["train"])} train and {len(splits["val"])} '
          f'val clips to {args.out} in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    sys.exit(main())
