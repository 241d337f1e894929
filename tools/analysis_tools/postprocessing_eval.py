#!/usr/bin/env python
"""J, F and temporal stability of the streaming post-processing options.

Streams every test clip of a config through ``VideoPortraitInferencer``
(reference: the clip's first frame, as the test set's ``'first'``
strategy) once per variant and scores the probabilities with the
package's J&F code (DAVIS protocol, p >= 0.5, first and last frames
dropped, as ``tools/test.py`` reports it):

- ``bilinear``: the logits resized bilinearly to the frame (the default;
  the same numbers as ``tools/test.py``);
- ``bilinear+filter``: with the temporal filter (``TemporalFilter``);
- ``guided``: fast guided upsampling to the frame (``GuidedUpsampler``);
- ``guided+filter``: both.

The masks are scored at the annotation size, the size of the frames
themselves (MVPS and the demo clips annotate every keyframe at its own
size), so F measures the edges at full resolution. Stability is the
package's temporal stability (``1 - mean d_t``; docs/evaluation.md).

Example:
    python tools/analysis_tools/postprocessing_eval.py \\
        configs/pdnet/pdnet_r18_1xb4-6e_demo-128x128.py \\
        work_dirs/demo/epoch_6.pth --json work_dirs/demo/postprocessing.json
    # choose the settings on the training clips, not on the test clips
    python tools/analysis_tools/postprocessing_eval.py CONFIG CKPT \\
        --cfg-options test_dataloader.dataset.split=train
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List

from mmengine.config import DictAction

import mmseg_pdnet  # noqa: F401  (registers the plugin)
from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.apis.guided_upsampling import GuidedUpsampler
from mmseg_pdnet.apis.temporal_filter import TemporalFilter
from mmseg_pdnet.datasets.image_io import read_frame, read_mask
from mmseg_pdnet.evaluation.metrics import (binarize_probability,
                                            evaluate_frame, summarize)
from mmseg_pdnet.utils import CheckpointError
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   build_test_dataset, check_checkpoint_path,
                                   check_device, check_output_file,
                                   load_config, positive_float)

USAGE = 'postprocessing_eval.py CONFIG CHECKPOINT'
#: variant -> (guided upsampling, temporal filter)
VARIANTS = OrderedDict([('bilinear', (False, False)),
                        ('bilinear+filter', (False, True)),
                        ('guided', (True, False)),
                        ('guided+filter', (True, True))])
COLUMNS = ('J', 'F', 'J&F', 'stability')


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got '
                                         f'{value}')
    return value


def build_parser() -> argparse.ArgumentParser:
    filt, guide = TemporalFilter(), GuidedUpsampler()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', help='test config file (.py)')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--data-root', metavar='DIR',
                        help='dataset folder of the test set (default: the '
                        "config's)")
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                        default=list(VARIANTS), help='variants to score')
    parser.add_argument('--filter-momentum', type=float,
                        default=filt.momentum,
                        help='temporal filter: weight of the past, [0, 1)')
    parser.add_argument('--motion-threshold', type=positive_float,
                        default=filt.motion_threshold,
                        help='temporal filter: grey-level change (0-255) of '
                        'a fully moving pixel')
    parser.add_argument('--motion-radius', type=_non_negative_int,
                        default=filt.motion_radius,
                        help='temporal filter: dilation of the motion map '
                        '(model-input pixels)')
    parser.add_argument('--guided-radius', type=int, default=guide.radius,
                        help='guided upsampling: window radius (model-input '
                        'pixels)')
    parser.add_argument('--guided-eps', type=positive_float,
                        default=guide.eps,
                        help='guided upsampling: regularisation (guide in '
                        '[0, 1])')
    parser.add_argument('--gray-guide', action='store_true',
                        help='guided upsampling: guide by the grey level '
                        'instead of the colour')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'test_dataloader.dataset.split=train')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the table and settings as JSON')
    return parser


def test_clips(cfg, data_root=None) -> List[dict]:
    """The test set's clips, each the frames of one sequence in order.

    Returns:
        list[dict]: per clip, ``seq_name``, ``category``, ``num_frames``
        and ``frames``: the dataset's entries of the clip's annotated
        frames (``img_path``, ``seg_map_path``, ``frame_idx``), sorted.

    Raises:
        CLIError: a frame's reference is not its clip's first frame (the
            stream renews no reference; the test set must use
            ``ref_strategy='first'``).
    """
    dataset = build_test_dataset(cfg, data_root)
    clips: Dict[str, dict] = OrderedDict()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        clip = clips.setdefault(info['seq_name'], dict(
            seq_name=info['seq_name'], category=info.get('category'),
            num_frames=info.get('num_frames'), frames=[]))
        clip['frames'].append(info)
    for clip in clips.values():
        clip['frames'].sort(key=lambda f: f['frame_idx'])
        first = clip['frames'][0]['img_path']
        if any(f['ref_img_paths'] != [first] for f in clip['frames']):
            raise CLIError(
                f'sequence {clip["seq_name"]!r}: the test set does not take '
                'the clip\'s first frame as the one reference of every '
                'frame; a stream does (set ref_strategy=\'first\')')
    if not clips:
        raise CLIError('the test set has no clip')
    return list(clips.values())


def score(inferencer: VideoPortraitInferencer, clips: List[dict],
          upsampler: GuidedUpsampler, temporal_filter: TemporalFilter,
          variants=tuple(VARIANTS)) -> Dict[str, dict]:
    """J, F, J&F and stability of each variant.

    Args:
        inferencer (VideoPortraitInferencer): The model; its
            ``upsampler`` and ``temporal_filter`` are set per variant and
            restored.
        clips (list[dict]): :func:`test_clips`.
        upsampler (GuidedUpsampler): The guided variants' upsampling.
        temporal_filter (TemporalFilter): The filtered variants' filter.
        variants (Sequence[str]): Names of :data:`VARIANTS`.

    Returns:
        dict[str, dict]: per variant, ``J`` and ``F`` (means), ``J&F`` and
        ``stability``, in percent.
    """
    saved = inferencer.upsampler, inferencer.temporal_filter
    frames = {name: [] for name in variants}
    try:
        for clip in clips:
            images = [read_frame(f['img_path']) for f in clip['frames']]
            gts = [read_mask(f['seg_map_path']) for f in clip['frames']]
            for name in variants:
                guided, filtered = VARIANTS[name]
                inferencer.upsampler = upsampler if guided else None
                inferencer.temporal_filter = temporal_filter if filtered \
                    else None
                for info, gt, res in zip(clip['frames'], gts,
                                         inferencer(images)):
                    frame = evaluate_frame(
                        binarize_probability(res.prob, 0.5), gt)
                    frame.update(seq_name=clip['seq_name'],
                                 frame_idx=int(info['frame_idx']),
                                 num_frames=clip['num_frames'],
                                 category=clip['category'])
                    frames[name].append(frame)
    finally:
        inferencer.upsampler, inferencer.temporal_filter = saved
    table = OrderedDict()
    for name in variants:
        summary = summarize(frames[name])
        table[name] = OrderedDict([
            ('J', 100 * summary['J']['mean']),
            ('F', 100 * summary['F']['mean']),
            ('J&F', 100 * summary['J&F']),
            ('stability', 100 * summary['stability'])])
    return table


def format_rows(table: Dict[str, dict]) -> str:
    lines = [f'{"variant":16s} ' + ' '.join(f'{c:>9s}' for c in COLUMNS)]
    for name, row in table.items():
        lines.append(f'{name:16s} ' +
                     ' '.join(f'{row[c]:9.2f}' for c in COLUMNS))
    return '\n'.join(lines)


def run(args) -> dict:
    if args.json:
        check_output_file(args.json, '--json')
    cfg = load_config(args.config, USAGE)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_checkpoint_path(args.checkpoint, USAGE)
    check_device(args.device)
    try:
        temporal_filter = TemporalFilter(args.filter_momentum,
                                         args.motion_threshold,
                                         args.motion_radius)
        upsampler = GuidedUpsampler(args.guided_radius, args.guided_eps,
                                    color=not args.gray_guide)
    except ValueError as e:
        raise CLIError(str(e))
    clips = test_clips(cfg, args.data_root)
    inferencer = VideoPortraitInferencer(cfg, args.checkpoint,
                                         device=args.device)
    table = score(inferencer, clips, upsampler, temporal_filter,
                  args.variants)
    sizes = sorted({tuple(read_mask(c['frames'][0]['seg_map_path']).shape)
                    for c in clips})
    num = sum(len(c['frames']) for c in clips)
    print(f'{len(clips)} clips, {num} frames, scored at '
          f'{", ".join(f"{h}x{w}" for h, w in sizes)} (H x W; model input '
          f'{inferencer.input_size[0]}x{inferencer.input_size[1]}); '
          f'DAVIS protocol p >= 0.5, percent')
    print(f'{temporal_filter!r}; {upsampler!r}')
    print(format_rows(table))
    result = dict(
        table=table, num_clips=len(clips), num_frames=num,
        frame_sizes=[list(s) for s in sizes],
        input_size=list(inferencer.input_size),
        temporal_filter=dict(momentum=temporal_filter.momentum,
                             motion_threshold=temporal_filter.motion_threshold,
                             motion_radius=temporal_filter.motion_radius),
        guided_upsampling=dict(radius=upsampler.radius, eps=upsampler.eps,
                               color=upsampler.color))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'wrote {args.json}')
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (OSError, ValueError, CheckpointError) as e:
        # CLIError, the dataset's and the checkpoint loader's errors: one
        # line naming the file or argument
        print(f'postprocessing_eval: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
