#!/usr/bin/env python
"""Evaluate result mask folders with the DAVIS/MVPS J&F semantics.

Any method's outputs laid out ``<seq>/<frame>.png`` can be scored with the
same code as our JFMetric. Predictions may be 0/1, 0/255 or probability
maps (0..255, foreground when >= 128).

Example:
    python tools/eval_masks.py --gt-root data/demo/Annotations/480p \
        --pred-root work_dirs/demo/masks --split data/demo/ImageSets/test.txt \
        --json results.json
"""
import argparse
import sys

from mmseg_pdnet.evaluation import evaluate_folders, format_table
from mmseg_pdnet.evaluation.metrics.jf_summary import write_summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='J&F of result PNG folders (DAVIS/MVPS semantics)')
    parser.add_argument('--gt-root', required=True,
                        help='annotations: <seq>/<frame>.png')
    parser.add_argument('--pred-root', required=True,
                        help='predictions: <seq>/<frame>.png')
    parser.add_argument('--split', help='file listing the sequences')
    parser.add_argument('--categories',
                        help='file of "<seq> <category>" lines')
    parser.add_argument('--keep-first-last', action='store_true',
                        help='keep the first and last annotated frames')
    parser.add_argument('--json', help='write the results as JSON')
    parser.add_argument('--csv', help='write the table as CSV')
    return parser.parse_args(argv)


def _read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def main(argv=None):
    args = parse_args(argv)
    try:
        sequences = _read_lines(args.split) if args.split else None
        if sequences == []:
            raise ValueError(f'{args.split}: split file lists no sequence')
        categories = None
        if args.categories:
            categories = dict(
                line.split(maxsplit=1) for line in _read_lines(args.categories))
        summary = evaluate_folders(args.gt_root, args.pred_root, sequences,
                                   categories, args.keep_first_last)
    except (OSError, ValueError) as e:
        print(f'eval_masks: error: {e}', file=sys.stderr)
        return 1
    print(format_table(summary))
    write_summary(summary, args.json, args.csv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
