#!/usr/bin/env python
"""Convert the authors' PDNet checkpoints (iCVTEAM/PDNet) to this package.

The authors publish a trained PDNet-R50 and PDNet-R101 (their README,
section "Model weights"). This tool maps every tensor of their checkpoint
onto our PDNet, checks that the result loads strictly into the matching
config, and writes an MMEngine checkpoint (``state_dict`` and ``meta``,
with the SHA-256 of the source file):

    python tools/model_converters/pdnet2mmseg.py pdnet_r50.pth \\
        checkpoints/pdnet_r50_mvps.pth

The encoder depth is read off the file (R50 ->
configs/pdnet/pdnet_r50_2xb2-60e_mvps-480x480.py, R101 -> the r101 config);
``--config`` names another one (e.g. a 3-part model). Their files load in
every form their code writes: ``{'model': ..., 'part_basis_generator': ...,
'epoch': ..., 'optim': ...}`` or a bare state dict, with or without
``module.`` prefixes. Their optimizer state is not converted.

``--reverse`` writes one of our checkpoints in the authors' layout
(``{'model': ..., 'part_basis_generator': {'w': ...}}``), so that a model
trained here can be scored with their code.

The other tools need no conversion: tools/test.py, tools/infer_video.py,
tools/deployment/export_onnx.py and ``load_from`` take the authors' file as
it is and convert it in memory.
"""
import argparse
import os
import os.path as osp
import re
import sys
import time
from collections import Counter
from typing import Dict, List, Optional

import torch

from mmseg_pdnet.apis.video_inferencer import _load_model
from mmseg_pdnet.utils.authors_checkpoint import (
    AUTHORS_LAYOUT, convert_authors_checkpoint, count_parts, describe,
    is_authors_checkpoint, mmseg_to_authors, module_pairs, sha256sum,
    split_authors_checkpoint, strip_module_prefix)
from mmseg_pdnet.utils.checkpoint import (CheckpointError, get_state_dict,
                                          load_checkpoint_file,
                                          match_state_dict, resnet_depth)
from mmseg_pdnet.utils.cli import CLIError, HelpFormatter, load_config

USAGE = 'pdnet2mmseg.py SRC DST [--reverse] [--config CONFIG]'
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the model-zoo config of each encoder depth of the authors' models
DEFAULT_CONFIGS = {
    depth: osp.join(ROOT, 'configs', 'pdnet',
                    f'pdnet_r{depth}_2xb2-60e_mvps-480x480.py')
    for depth in (50, 101)
}


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('src', help="the authors' checkpoint (with "
                        '--reverse: one of this package)')
    parser.add_argument('dst', help='the checkpoint to write')
    parser.add_argument('--reverse', action='store_true',
                        help="write the authors' layout from one of ours")
    parser.add_argument(
        '--config', help='config whose model the converted weights must '
        'load into strictly (default: the R50 or R101 model-zoo config, '
        'by the depth of the file)')
    return parser


def _family(key: str) -> str:
    """``'ipda.part_sep_conv.3.bn_1.bias'`` -> ``'ipda.part_sep_conv'``:
    a key's module family, for the summary."""
    parts = key.split('.')
    depth = 2 if parts[0] in ('ipda', 'backbone', 'neck', 'decode_head') \
        else 1
    if parts[:2] in (['backbone', 'decoder'], ['neck', 'attention']):
        depth = 3
    return re.sub(r'\d+', '#', '.'.join(parts[:depth]))


def mapping_summary(theirs: Dict[str, torch.Tensor],
                    ours: Dict[str, torch.Tensor]) -> List[str]:
    """One line per module family: their tensors -> ours.

    Args:
        theirs (dict): The authors' state dict (``module.`` stripped).
        ours (dict): The same weights in our layout.

    Returns:
        list[str]: e.g. ``'ipda.part_sep_conv.* (90) -> neck.part_branches.*
        (15)'``.
    """
    table = {t: o for t, o, _ in module_pairs(count_parts(theirs))}
    pairs = Counter()
    counts_ours = Counter(_family(k) for k in ours)
    for key in theirs:
        module = key.rpartition('.')[0]
        our = 'backbone.backbone' if key.startswith('bkbone.') else \
            table[module]
        pairs[(_family(key), _family(our))] += 1
    width = max(len(t) for t, _ in pairs) + 8
    return [f'  {t + ".*":<{width - 4}} ({n:3d}) -> {o}.* ({counts_ours[o]})'
            for (t, o), n in pairs.items()]


def _in_our_layout(checkpoint) -> bool:
    state = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else None
    return isinstance(state, dict) and any(
        k.startswith(('backbone.', 'decode_head.'))
        for k in strip_module_prefix(state))


def _save(obj: dict, dst: str) -> None:
    """``torch.save`` to a temporary file, then rename: DST is complete
    or absent, never half-written."""
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(dst)}.tmp{os.getpid()}')
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def to_mmseg(src: str, dst: str, config: Optional[str]) -> None:
    """Authors' layout -> ours, checked against ``config``'s model."""
    checkpoint = load_checkpoint_file(src)
    name = osp.basename(src)
    if _in_our_layout(checkpoint):
        raise CLIError(f"{src}: already in this package's layout "
                       '(backbone.backbone.*); --reverse writes the '
                       "authors' layout")
    converted = convert_authors_checkpoint(checkpoint, name, sha256sum(src))
    meta = converted['meta']
    depth = meta['depth']
    if config is None:
        if depth not in DEFAULT_CONFIGS:
            raise CLIError(
                f'{src}: a {describe(depth, meta["num_parts"])}: no model-zoo '
                'config has that encoder; name one with --config')
        config = DEFAULT_CONFIGS[depth]
    # the inferencer's model: no pretrained weights, no training losses
    model, _ = _load_model(load_config(config, USAGE), None)
    theirs, _ = split_authors_checkpoint(checkpoint, src)
    if resnet_depth(model.state_dict()) == depth:
        # name what is missing as the authors' code names it
        expected = mmseg_to_authors(model.state_dict(), config)[0]
        missing = [k for k in expected if k not in theirs]
        if missing:
            raise CLIError(
                f"{src}: {len(missing)} key(s) of the authors' "
                f'{describe(depth, meta["num_parts"])} missing (e.g. '
                f'{missing[0]!r})')
    # strict: every key of the model, no key left over, same shapes (a
    # file of another depth than the config is refused here, saying so)
    match_state_dict(model, converted['state_dict'], src, config)
    meta['config'] = osp.relpath(config, ROOT) if osp.abspath(
        config).startswith(ROOT + os.sep) else config
    print(f"{src}: the authors' {describe(depth, meta['num_parts'])} "
          f'({AUTHORS_LAYOUT} layout)')
    for line in mapping_summary(theirs, converted['state_dict']):
        print(line)
    if 'part_loss.basis' not in converted['state_dict']:
        print('  (no part_basis_generator in the file: the part basis, '
              'used in training only, is left at its initial value)')
    _save(converted, dst)
    print(f'wrote {dst}: {len(converted["state_dict"])} tensors, loads '
          f'strictly into {meta["config"]}; source sha256 '
          f'{meta["source_sha256"]}')


def to_authors(src: str, dst: str) -> None:
    """Our layout -> the authors'."""
    checkpoint = load_checkpoint_file(src)
    if is_authors_checkpoint(checkpoint):
        raise CLIError(f"{src}: already in the authors' layout (bkbone.*); "
                       'without --reverse it is converted to this package')
    state = strip_module_prefix(get_state_dict(checkpoint, src))
    theirs, basis = mmseg_to_authors(state, src)
    num_parts = count_parts(theirs)
    out = dict(model=theirs)
    if basis is not None:
        out['part_basis_generator'] = dict(w=basis)
    epoch = (checkpoint.get('meta') or {}).get('epoch')
    if isinstance(epoch, int):
        out['epoch'] = epoch
    _save(out, dst)
    depth = resnet_depth(theirs, 'bkbone.')
    print(f"wrote {dst}: the authors' layout ({AUTHORS_LAYOUT}) of a "
          f'{describe(depth, num_parts)}, {len(theirs)} tensors'
          + ('' if basis is None else ' + the part basis'))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if osp.abspath(args.src) == osp.abspath(args.dst):
            raise CLIError(f'{args.dst}: DST is SRC; write the conversion '
                           'to another file')
        if not osp.isfile(args.src):
            raise CLIError(f'{args.src}: checkpoint does not exist')
        if args.reverse:
            if args.config:
                raise CLIError('--config is not used with --reverse')
            to_authors(args.src, args.dst)
        else:
            to_mmseg(args.src, args.dst, args.config)
    except (CheckpointError, CLIError, OSError) as e:
        print(f'pdnet2mmseg: error: {e}', file=sys.stderr)
        return 1
    print(f'done in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
