#!/usr/bin/env python
"""Export PDNet to ONNX: streaming (reference + target) and paired graphs.

Writes to OUT_DIR:
- ``pdnet_reference.onnx``: ``ref`` (1, 3, H, W) -> ``key``, ``value``
  (1, p, d, N), the cached reference features;
- ``pdnet_target.onnx``: ``img`` (1, 3, H, W), ``key``, ``value`` ->
  ``prob`` (1, 1, H, W), ``parts`` (1, p, H/16, W/16);
- ``pdnet_paired.onnx``: ``pair`` (1, 6, H, W) -> ``prob``.

Inputs are normalised RGB frames: BGR -> RGB, then (x - mean) / std with
the config's data_preprocessor mean/std. H and W are dynamic (multiples of
32); N follows them. See docs/deployment.md.

Example:
    python tools/deployment/export_onnx.py CONFIG CKPT --out-dir onnx --verify
"""
import argparse
import os
import os.path as osp
import sys
import warnings

import numpy as np
import torch

from mmseg_pdnet.apis.onnx_wrappers import (PairedSegmenter, ReferenceEncoder,
                                            TargetSegmenter)
from mmseg_pdnet.apis.video_inferencer import _load_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--size', type=int, nargs=2, default=[480, 480],
                        metavar=('H', 'W'), help='example input size')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--static', action='store_true',
                        help='fixed H and W instead of dynamic axes')
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch')
    return parser.parse_args(argv)


def export(model, out_dir, size=(480, 480), opset=17, dynamic=True):
    """Export the three graphs; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    h, w = size
    img, ref = torch.randn(1, 3, h, w), torch.randn(1, 3, h, w)
    with torch.no_grad():
        key, value = ReferenceEncoder(model)(ref)
    hw = {2: 'height', 3: 'width'} if dynamic else {}
    kv = {3: 'positions'} if dynamic else {}
    jobs = [
        ('pdnet_reference.onnx', ReferenceEncoder(model), (ref, ), ['ref'],
         ['key', 'value'], dict(ref=hw, key=kv, value=kv)),
        ('pdnet_target.onnx', TargetSegmenter(model), (img, key, value),
         ['img', 'key', 'value'], ['prob', 'parts'],
         dict(img=hw, key=kv, value=kv, prob=hw,
              parts={2: 'h16', 3: 'w16'} if dynamic else {})),
        ('pdnet_paired.onnx', PairedSegmenter(model),
         (torch.cat([img, ref], 1), ), ['pair'], ['prob'],
         dict(pair=hw, prob=hw)),
    ]
    paths = []
    for name, module, args, inputs, outputs, axes in jobs:
        path = osp.join(out_dir, name)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(
                module.eval(), args, path, input_names=inputs,
                output_names=outputs, opset_version=opset,
                dynamic_axes={k: v for k, v in axes.items() if v} or None,
                dynamo=False)
        paths.append(path)
    return paths


def verify(model, out_dir, size, atol=1e-4):
    """Run the graphs in onnxruntime (CPU) and compare with PyTorch.

    Returns:
        float: the largest absolute difference over all outputs.
    """
    import onnxruntime as ort
    h, w = size
    rng = np.random.default_rng(0)
    img = rng.standard_normal((1, 3, h, w)).astype(np.float32)
    ref = rng.standard_normal((1, 3, h, w)).astype(np.float32)

    def session(name):
        return ort.InferenceSession(osp.join(out_dir, name),
                                    providers=['CPUExecutionProvider'])

    key, value = session('pdnet_reference.onnx').run(None, {'ref': ref})
    prob, parts = session('pdnet_target.onnx').run(
        None, {'img': img, 'key': key, 'value': value})
    (paired, ) = session('pdnet_paired.onnx').run(
        None, {'pair': np.concatenate([img, ref], 1)})
    with torch.no_grad():
        t_key, t_value = ReferenceEncoder(model)(torch.from_numpy(ref))
        t_prob, t_parts = TargetSegmenter(model)(torch.from_numpy(img),
                                                 t_key, t_value)
        t_paired = PairedSegmenter(model)(
            torch.from_numpy(np.concatenate([img, ref], 1)))
    diff = max(
        float(np.abs(a - b.numpy()).max())
        for a, b in ((key, t_key), (value, t_value), (prob, t_prob),
                     (parts, t_parts), (paired, t_paired)))
    if diff > atol:
        raise RuntimeError(f'ONNX Runtime differs from PyTorch by {diff:.2e}'
                           f' (> {atol}) at {h}x{w}')
    return diff


def main(argv=None):
    args = parse_args(argv)
    try:
        model, _ = _load_model(args.config, args.checkpoint)
        model.eval()
        paths = export(model, args.out_dir, tuple(args.size), args.opset,
                       dynamic=not args.static)
        for path in paths:
            print(f'wrote {path}')
        if args.verify:
            diff = verify(model, args.out_dir, tuple(args.size))
            print(f'onnxruntime vs PyTorch: max abs difference {diff:.2e}')
    except (OSError, ValueError, RuntimeError) as e:
        print(f'export_onnx: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
