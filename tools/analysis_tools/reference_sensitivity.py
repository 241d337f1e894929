#!/usr/bin/env python
"""Does a trained PDNet use its reference frame? J&F with swapped references.

Scores the config's test clips (as ``tools/test.py``, DAVIS protocol
p >= 0.5) four times, each target frame segmented against:

- ``reference``: its own reference (the clip's first frame): the normal
  result;
- ``other-clip``: the reference of the next test clip (another scene);
- ``target``: the target frame itself;
- ``grey``: a uniform mid-grey frame.

A model whose IPDA carries information from the reference scores lower
with the wrong ones; equal rows mean the model segments each frame on its
own, as the ablation without IPDA would.

Example:
    python tools/analysis_tools/reference_sensitivity.py \\
        configs/pdnet/pdnet_r18_1xb4-6e_demo-128x128.py \\
        work_dirs/demo/epoch_6.pth --json work_dirs/demo/reference.json
"""
import argparse
import json
import sys
from typing import Dict, List

import numpy as np

import mmseg_pdnet  # noqa: F401  (registers the plugin)
from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.datasets.image_io import read_frame, read_mask
from mmseg_pdnet.evaluation.metrics import (binarize_probability,
                                            evaluate_frame, summarize)
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   build_test_dataset, check_checkpoint_path,
                                   check_device, load_config)

USAGE = 'reference_sensitivity.py CONFIG CHECKPOINT'
SUBSTITUTES = ('reference', 'other-clip', 'target', 'grey')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', help='test config file (.py)')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--data-root', metavar='DIR',
                        help='dataset folder of the test set (default: the '
                        "config's)")
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the table as JSON')
    return parser


def test_frames(cfg, data_root=None) -> List[dict]:
    """The test set's frames (paths and metadata), in the dataset's order.

    Raises:
        CLIError: when the config's test set gives more than one reference
            per frame (the streaming API, used here, takes one).
    """
    dataset = build_test_dataset(cfg, data_root)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if any(len(info['ref_img_paths']) != 1 for info in infos):
        raise CLIError('this tool swaps one reference frame; the test set '
                       'gives several per frame')
    return infos


def reference_cache(inferencer: VideoPortraitInferencer, name: str,
                    info: dict, target: np.ndarray, next_reference: Dict[
                        str, str], caches: Dict[tuple, dict]) -> dict:
    """The reference cache that replaces ``info``'s under ``name``.

    A clip's own reference, another clip's and the grey frame are encoded
    once and kept in ``caches``; the target itself is encoded per frame.
    """
    if name == 'target':
        return inferencer.encode_reference_frame(target)
    if name == 'reference':
        key = (name, info['ref_img_paths'][0])
    elif name == 'other-clip':
        key = (name, next_reference[info['seq_name']])
    elif name == 'grey':
        key = (name, target.shape)
    else:
        raise ValueError(f'unknown substitute {name!r}')
    if key not in caches:
        frame = (np.full(target.shape, 128, np.uint8) if name == 'grey'
                 else read_frame(key[1]))
        caches[key] = inferencer.encode_reference_frame(frame)
    return caches[key]


def score(inferencer: VideoPortraitInferencer, infos: List[dict],
          names=SUBSTITUTES) -> Dict[str, dict]:
    """J&F of the test frames under each reference substitute.

    Args:
        inferencer (VideoPortraitInferencer): The model.
        infos (list[dict]): :func:`test_frames`.
        names (Sequence[str]): Substitutes (:data:`SUBSTITUTES`).

    Returns:
        dict[str, dict]: per substitute, ``J&F``, ``J`` and ``F`` (mean,
        percent).
    """
    # each clip's own reference, to lend to the clip before it
    seqs, refs = [], {}
    for info in infos:
        if info['seq_name'] not in refs:
            seqs.append(info['seq_name'])
            refs[info['seq_name']] = info['ref_img_paths'][0]
    if 'other-clip' in names and len(seqs) < 2:
        raise CLIError('other-clip needs at least two test clips, the test '
                       f'set has {len(seqs)}')
    next_reference = {seq: refs[seqs[(i + 1) % len(seqs)]]
                      for i, seq in enumerate(seqs)}
    frames = {name: [] for name in names}
    caches = {}
    for info in infos:
        target = read_frame(info['img_path'])
        gt = read_mask(info['seg_map_path'])
        for name in names:
            cache = reference_cache(inferencer, name, info, target,
                                    next_reference, caches)
            prob = inferencer.segment_with(target, cache)
            frame = evaluate_frame(binarize_probability(prob, 0.5), gt)
            frame.update(seq_name=info['seq_name'],
                         frame_idx=int(info['frame_idx']),
                         num_frames=info.get('num_frames'),
                         category=info.get('category'))
            frames[name].append(frame)
    table = {}
    for name in names:
        summary = summarize(frames[name])
        table[name] = {
            'J&F': 100 * summary['J&F'],
            'J': 100 * summary['J']['mean'],
            'F': 100 * summary['F']['mean']
        }
    return table


def format_rows(table: Dict[str, dict]) -> str:
    base = table['reference']['J&F']
    lines = [f'{"reference frame":16s} {"J&F":>6s} {"J":>6s} {"F":>6s} '
             f'{"vs own":>7s}']
    for name, row in table.items():
        lines.append(f'{name:16s} {row["J&F"]:6.1f} {row["J"]:6.1f} '
                     f'{row["F"]:6.1f} {row["J&F"] - base:+7.1f}')
    return '\n'.join(lines)


def run(args) -> Dict[str, dict]:
    cfg = load_config(args.config, USAGE)
    check_checkpoint_path(args.checkpoint, USAGE)
    check_device(args.device)
    infos = test_frames(cfg, args.data_root)
    inferencer = VideoPortraitInferencer(cfg, args.checkpoint,
                                         device=args.device)
    if not getattr(inferencer.model, 'use_ipda', False):
        raise CLIError(f'{args.config}: the model has no IPDA '
                       '(use_ipda=False): it never reads its reference frame')
    table = score(inferencer, infos)
    print(format_rows(table))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(table, f, indent=2)
    return table


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except CLIError as e:
        print(f'reference_sensitivity: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
