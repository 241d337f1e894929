#!/usr/bin/env python
"""Evaluate result mask folders with the DAVIS/MVPS J&F semantics.

Any method's outputs laid out ``<seq>/<frame>.png`` can be scored with the
same code as ``JFMetric`` (mmseg_pdnet/evaluation). Every annotated frame
needs a prediction (a missing one is an error naming the file);
predictions of unannotated frames are ignored. Predictions may be 0/1 or
0/255 masks, probability maps (0..255, foreground when >= 128) or palette
PNGs (index > 0); see ``--pred-format``. ``--pred-format mvps`` scores
``round(255 p)`` maps as the PDNet authors did (their result PNGs, written
by ``tools/test.py --out DIR --out-prob``, read by the MVPS evaluation
code: any nonzero pixel is foreground, i.e. p > 1/510). The binarisation
used is always printed and stored in the JSON. The ground truth's nonzero
pixels are foreground (0/255 masks, DAVIS palette PNGs).

--json and --csv are checked before the (slow) scoring: missing folders
are created, a path that cannot be written is refused in one line. Each
file appears complete or not at all; should one still fail, the other is
kept and the error names the one that failed.

Example:
    python tools/eval_masks.py --gt-root data/mvps/Annotations/480p \\
        --pred-root work_dirs/pdnet/masks \\
        --split data/mvps/ImageSets/val.txt \\
        --categories data/mvps/ImageSets/categories.txt \\
        --json results.json --csv results.csv
    # the authors' protocol (the paper's numbers) on round(255 p) maps
    python tools/eval_masks.py --gt-root data/mvps/Annotations/480p \\
        --pred-root work_dirs/pdnet/masks_prob --pred-format mvps \\
        --split data/mvps/ImageSets/val.txt
"""
import argparse
import os
import os.path as osp
import sys

from mmseg_pdnet.evaluation import (PRED_FORMATS, evaluate_folders,
                                    format_table)
from mmseg_pdnet.evaluation.metrics.jf_summary import write_summary
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   check_output_file)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('--gt-root', required=True,
                        help='annotations: <seq>/<frame>.png')
    parser.add_argument('--pred-root', required=True,
                        help='predictions: <seq>/<frame>.png')
    parser.add_argument('--split',
                        help='file listing the sequences, one per line '
                        '(default: every folder of --gt-root)')
    parser.add_argument('--categories',
                        help='file of "<seq> <category>" lines (MVPS: '
                        'ImageSets/categories.txt) for the per-scenario table')
    parser.add_argument('--keep-first-last', action='store_true',
                        help='keep the first and last annotated frames of '
                        'each sequence (DAVIS/MVPS drop them)')
    parser.add_argument('--pred-format', choices=PRED_FORMATS, default='auto',
                        help='binary: nonzero is foreground; prob: >= 128 is '
                        'foreground (p >= 0.5, DAVIS-style); mvps: nonzero is '
                        'foreground, as the MVPS evaluation code reads the '
                        'authors\' round(255 p) result PNGs (p > 1/510); '
                        'auto: binary when a PNG\'s maximum is '
                        '<= 1, else prob. Palette PNGs: index > 0 always')
    parser.add_argument('--json', help='write the results (fractions) here')
    parser.add_argument('--csv', help='write the tables (fractions) here')
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def _read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _read_categories(path):
    categories = {}
    for line in _read_lines(path):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f'{path}: expected "<seq> <category>" lines, '
                             f'got {line!r}')
        categories[parts[0]] = parts[1]
    return categories


def write_outputs(summary, json_path=None, csv_path=None):
    """Write the JSON and the CSV, each under a temporary name first.

    Returns:
        tuple[list[str], list[str]]: the files written, and one message
        per file that could not be (its option, path and reason).
    """
    written, failed = [], []
    for flag, path in (('--json', json_path), ('--csv', csv_path)):
        if not path:
            continue
        tmp = osp.join(osp.dirname(osp.abspath(path)),
                       f'.{osp.basename(path)}.partial')
        try:
            os.makedirs(osp.dirname(tmp), exist_ok=True)
            write_summary(summary, *((tmp, None) if flag == '--json'
                                     else (None, tmp)))
            os.replace(tmp, path)
            written.append(path)
        except OSError as e:
            if osp.exists(tmp):
                os.remove(tmp)
            failed.append(f'{flag} {path}: could not be written '
                          f'({e.strerror or e})')
    return written, failed


def main(argv=None):
    args = parse_args(argv)
    try:
        # before the scoring, which can take minutes
        for flag, path in (('--json', args.json), ('--csv', args.csv)):
            if path:
                check_output_file(path, flag)
        if args.json and args.csv and \
                osp.abspath(args.json) == osp.abspath(args.csv):
            raise CLIError(f'--json and --csv are the same file {args.json}')
        sequences = _read_lines(args.split) if args.split else None
        if sequences == []:
            raise ValueError(f'{args.split}: split file lists no sequence')
        categories = (_read_categories(args.categories)
                      if args.categories else None)
        summary = evaluate_folders(args.gt_root, args.pred_root, sequences,
                                   categories, args.keep_first_last,
                                   args.pred_format)
    except (OSError, ValueError) as e:
        print(f'eval_masks: error: {e}', file=sys.stderr)
        return 1
    print(format_table(summary))
    print(f'binarisation: {summary["binarisation"]}')
    print(f'J&F {100 * summary["J&F"]:.1f}  J {100 * summary["J"]["mean"]:.1f}'
          f'  F {100 * summary["F"]["mean"]:.1f}  stability '
          f'{100 * summary["stability"]:.1f}  '
          f'({summary["num_sequences"]} sequences)')
    written, failed = write_outputs(summary, args.json, args.csv)
    for path in written:
        print(f'wrote {path}')
    if failed:
        print(f'eval_masks: error: {"; ".join(failed)}'
              + (f' (kept {", ".join(written)})' if written else ''),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
