#!/usr/bin/env python
"""Export PDNet to ONNX: streaming (reference + target) and paired graphs.

Writes to OUT_DIR:
- pdnet_reference.onnx: ref (1, 3, H, W) -> key, value (1, p, d, N),
  the cached reference features (N = H/16 * W/16);
- pdnet_target.onnx: img (1, 3, H, W), key, value -> prob (1, 1, H, W),
  parts (1, p, H/16, W/16);
- pdnet_paired.onnx: pair (1, 6, H, W) (target, then reference) -> prob.

All tensors are float32, NCHW (float16 with --fp16: weights, inputs and
outputs; cast the preprocessed frame to float16). prob is the foreground
probability (sigmoid applied; the mask is prob > 0.5).

Preprocessing of every input frame (as tools/test.py; also stored in each
model's metadata_props):
  1. decode as 8-bit BGR (OpenCV's order);
  2. resize to H x W (bilinear, aspect ratio not kept): by default the
     config's test size (its test pipeline's PairedResize); H and W are
     dynamic axes (multiples of 32) unless --static. The paper configs
     resize the frame as float32 (converted before the resize, not
     rounded after it: the authors' input), others the 8-bit frame; the
     metadata's 'resize' says which;
  3. BGR -> RGB, to float32 (if not yet);
  4. (x - mean) / std per channel, with the config's data_preprocessor
     mean/std in RGB order (PDNet configs: ImageNet's, mean 123.675,
     116.28, 103.53 and std 58.395, 57.12, 57.375, on 0-255 values);
  5. HWC -> CHW, add the batch axis: (1, 3, H, W).
Resize prob back to the frame size for a full-resolution mask. See
docs/deployment.md.

Example:
    python tools/deployment/export_onnx.py CONFIG CKPT --out-dir onnx --verify
    python tools/deployment/export_onnx.py CONFIG CKPT --out-dir onnx_fp16 \
        --fp16 --verify
"""
import argparse
import copy
import os
import os.path as osp
import sys
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from mmseg_pdnet.apis.onnx_wrappers import (PairedSegmenter, ReferenceEncoder,
                                            TargetSegmenter)
from mmseg_pdnet.apis.preprocessing import StreamPreprocessor
from mmseg_pdnet.apis.video_inferencer import _load_model
from mmseg_pdnet.utils.cli import (CLIError, HelpFormatter,
                                   check_checkpoint_path, check_output_dir,
                                   load_config, positive_int)

USAGE = 'export_onnx.py CONFIG CHECKPOINT --out-dir DIR [options]'
GRAPHS = ('pdnet_reference.onnx', 'pdnet_target.onnx', 'pdnet_paired.onnx')
#: --verify's limits. fp32 graphs against PyTorch fp32: every output.
#: fp16 graphs against PyTorch fp32 (docs/deployment.md gives measured
#: values): the mean |difference| of the probabilities (prob, parts, the
#: paired prob), the share of mask pixels (prob > 0.5) that differ, and
#: key / value relative to their largest magnitude. Not the largest
#: probability difference: a pixel whose logit is near 0 may cross 0.5
FP32_ATOL = 1e-4
FP16_MEAN_PROB_ATOL = 1e-2
FP16_MASK_MISMATCH = 1e-2
FP16_FEATURE_RTOL = 1e-2


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool (``--help`` shows the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('config', help='the model\'s config file (.py)')
    parser.add_argument('checkpoint', help='the checkpoint to export (.pth;'
                        ' the authors\' file is converted in memory)')
    parser.add_argument('--out-dir', required=True,
                        help='folder of the three .onnx files')
    parser.add_argument('--size', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='input size of the example inputs (and of the '
                        'graphs with --static); multiples of 32 (default: '
                        'the config\'s test size, its test pipeline\'s '
                        'PairedResize)')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version')
    parser.add_argument('--static', action='store_true',
                        help='fixed H and W instead of dynamic axes')
    parser.add_argument('--fp16', action='store_true',
                        help='half-precision graphs: weights, inputs and '
                        'outputs float16 (the model converted with .half() '
                        'before the export)')
    parser.add_argument('--verify', action='store_true',
                        help='run the graphs in onnxruntime (CPU) and '
                        'compare with PyTorch float32 (needs onnxruntime): '
                        f'fp32 graphs within {FP32_ATOL:g} on every output, '
                        'fp16 graphs within a mean '
                        f'{FP16_MEAN_PROB_ATOL:g} on the probabilities, '
                        f'{100 * FP16_MASK_MISMATCH:g}%% of the mask pixels '
                        'and '
                        f'a relative {FP16_FEATURE_RTOL:g} on key / value')
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def config_test_size(cfg) -> Tuple[int, int]:
    """The model input ``(H, W)`` of a config: the scale of the last
    ``PairedResize`` of its test pipeline.

    Raises:
        CLIError: the test pipeline has no ``PairedResize`` (then
            ``--size`` is needed).
    """
    # the size the test pipeline gives a frame, found as the streaming
    # inferencer finds it (one home for the convention of PairedResize)
    try:
        return StreamPreprocessor.from_config(cfg, None).input_size
    except ValueError as err:
        raise CLIError(f'{err}; pass --size H W') from None


def config_input_dtype(cfg) -> np.dtype:
    """The dtype the config's test pipeline gives the network (uint8, or
    float32 with ``PairedResize(to_float32=True)``); uint8 when the
    pipeline has no resize (``--size`` then adds an 8-bit one)."""
    try:
        return StreamPreprocessor.from_config(cfg, None).input_dtype
    except ValueError:
        return np.dtype(np.uint8)


def preprocessing_metadata(model, size: Sequence[int], dynamic: bool = True,
                           config: Optional[str] = None,
                           float_resize: bool = False,
                           fp16: bool = False) -> Dict[str, str]:
    """The input contract of the graphs, as ONNX ``metadata_props``.

    Args:
        model (nn.Module): The exported PDNet (its ``data_preprocessor``
            holds mean, std and the channel conversion).
        size (Sequence[int]): The input ``(H, W)`` the model expects (the
            config's test size).
        dynamic (bool): Whether H and W are dynamic axes.
        config (str, optional): The config file, recorded as its name.
        float_resize (bool): The config's test pipeline resizes float32
            frames (``PairedResize(to_float32=True)``: the paper configs),
            not 8-bit ones.
        fp16 (bool): The graphs take and give float16 tensors.

    Returns:
        dict: string keys and values (ONNX metadata holds strings).
    """
    pre = model.data_preprocessor
    mean = [float(v) for v in pre.mean.flatten()] if getattr(
        pre, '_enable_normalize', True) else [0.0, 0.0, 0.0]
    std = [float(v) for v in pre.std.flatten()] if getattr(
        pre, '_enable_normalize', True) else [1.0, 1.0, 1.0]
    rgb = bool(getattr(pre, 'channel_conversion', True))
    h, w = size

    def fmt(values):
        return ','.join(f'{v:g}' for v in values)

    meta = {
        'input_size': f'{h},{w}',
        'size_axes': 'dynamic (multiples of 32)' if dynamic else 'static',
        'layout': 'NCHW',
        'dtype': 'float16' if fp16 else 'float32',
        'channel_order': 'RGB' if rgb else 'BGR',
        'mean': fmt(mean),
        'std': fmt(std),
        'value_range': '0-255 before normalisation',
        'resize': 'bilinear (cv2.INTER_LINEAR)'
        + (' on float32 values, not rounded to 8 bits' if float_resize else
           ' on the 8-bit frame') + ', aspect ratio not kept',
        'output': 'prob: foreground probability (sigmoid applied), mask = '
        'prob > 0.5, at the input size',
    }
    meta['preprocessing'] = (
        'decode to 8-bit BGR; ' + ('float32; ' if float_resize else '')
        + f'resize to {h}x{w} (HxW, {meta["resize"]}); '
        + ('BGR->RGB; ' if rgb else '')
        + ('' if float_resize else 'float32; ') + '(x - mean) / std with '
        f'mean={fmt(mean)} std={fmt(std)} ({meta["channel_order"]} order, '
        '0-255 values); HWC->CHW; add batch axis -> (1, 3, H, W)'
        + ('; cast to float16' if fp16 else ''))
    if config is not None:
        meta['config'] = osp.basename(config)
    return meta


def add_metadata(path: str, metadata: Dict[str, str]) -> None:
    """Store ``metadata`` in the ONNX file's ``metadata_props``."""
    import onnx
    model = onnx.load(path)
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, path)


def export(model, out_dir, size=(480, 480), opset=17, dynamic=True,
           metadata: Optional[Dict[str, str]] = None, fp16: bool = False):
    """Export the three graphs; returns their paths.

    Args:
        model (nn.Module): PDNet in eval mode.
        out_dir (str): Output folder.
        size (tuple): ``(H, W)`` of the example inputs. Defaults to
            ``(480, 480)``.
        opset (int): ONNX opset. Defaults to 17.
        dynamic (bool): Dynamic H and W. Defaults to True.
        metadata (dict, optional): ``metadata_props`` of every graph.
            Defaults to :func:`preprocessing_metadata` at ``size``.
        fp16 (bool): Export a float16 copy of the model (weights, inputs
            and outputs float16). Defaults to False.

    Returns:
        list[str]: The paths of the three graphs.
    """
    os.makedirs(out_dir, exist_ok=True)
    h, w = size
    if metadata is None:
        metadata = preprocessing_metadata(model, size, dynamic, fp16=fp16)
    dtype = torch.float16 if fp16 else torch.float32
    if fp16:  # the caller's model stays float32
        model = copy.deepcopy(model).half()
    img = torch.randn(1, 3, h, w).to(dtype)
    ref = torch.randn(1, 3, h, w).to(dtype)
    with torch.no_grad():
        key, value = ReferenceEncoder(model)(ref)
    hw = {2: 'height', 3: 'width'} if dynamic else {}
    kv = {3: 'positions'} if dynamic else {}
    jobs = [
        (GRAPHS[0], ReferenceEncoder(model), (ref, ), ['ref'],
         ['key', 'value'], dict(ref=hw, key=kv, value=kv)),
        (GRAPHS[1], TargetSegmenter(model), (img, key, value),
         ['img', 'key', 'value'], ['prob', 'parts'],
         dict(img=hw, key=kv, value=kv, prob=hw,
              parts={2: 'h16', 3: 'w16'} if dynamic else {})),
        (GRAPHS[2], PairedSegmenter(model),
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
        add_metadata(path, metadata)
        paths.append(path)
    return paths


def verify(model, out_dir, size, atol=FP32_ATOL, fp16: bool = False,
           stats: Optional[dict] = None):
    """Run the graphs in onnxruntime (CPU) and compare with PyTorch
    float32 on the same inputs.

    Args:
        model (nn.Module): The float32 PDNet in eval mode.
        out_dir (str): The folder of the three graphs.
        size (tuple[int, int]): ``(H, W)`` of the test inputs.
        atol (float): fp32 graphs: the limit on every output. Defaults to
            :data:`FP32_ATOL`.
        fp16 (bool): The graphs are float16: the inputs are rounded to
            float16 for both, and the limits are :data:`FP16_MEAN_PROB_ATOL`
            (mean |difference| of the probabilities),
            :data:`FP16_MASK_MISMATCH` (share of mask pixels that differ)
            and :data:`FP16_FEATURE_RTOL` (key / value, relative to their
            largest magnitude).
        stats (dict, optional): Filled with every measured difference.

    Returns:
        float: the largest absolute difference of the probabilities
        (fp32: over all outputs).

    Raises:
        RuntimeError: A difference above its limit.
    """
    import onnxruntime as ort
    h, w = size
    rng = np.random.default_rng(0)
    dtype = np.float16 if fp16 else np.float32
    img = rng.standard_normal((1, 3, h, w)).astype(dtype)
    ref = rng.standard_normal((1, 3, h, w)).astype(dtype)

    def session(name):
        return ort.InferenceSession(osp.join(out_dir, name),
                                    providers=['CPUExecutionProvider'])

    key, value = session('pdnet_reference.onnx').run(None, {'ref': ref})
    prob, parts = session('pdnet_target.onnx').run(
        None, {'img': img, 'key': key, 'value': value})
    (paired, ) = session('pdnet_paired.onnx').run(
        None, {'pair': np.concatenate([img, ref], 1)})

    def t(x):  # the same (rounded) input, in float32
        return torch.from_numpy(x.astype(np.float32))

    with torch.no_grad():
        t_key, t_value = ReferenceEncoder(model)(t(ref))
        t_prob, t_parts = TargetSegmenter(model)(t(img), t_key, t_value)
        t_paired = PairedSegmenter(model)(t(np.concatenate([img, ref], 1)))

    def diff(a, b):
        return np.abs(a.astype(np.float32) - b.numpy())

    probs = ((prob, t_prob), (parts, t_parts), (paired, t_paired))
    found = dict(
        max_abs_prob=max(float(diff(a, b).max()) for a, b in probs),
        mean_abs_prob=max(float(diff(a, b).mean()) for a, b in probs),
        mask_mismatch=max(float(((a > 0.5) != (b.numpy() > 0.5)).mean())
                          for a, b in ((prob, t_prob), (paired, t_paired))),
        max_abs_feature=max(float(diff(a, b).max()) for a, b in
                            ((key, t_key), (value, t_value))),
        max_rel_feature=max(
            float(diff(a, b).max()) / max(float(b.abs().max()), 1e-12)
            for a, b in ((key, t_key), (value, t_value))))
    if stats is not None:
        stats.update(found)
    if not fp16:
        worst = max(found['max_abs_prob'], found['max_abs_feature'])
        if worst > atol:
            raise RuntimeError(f'ONNX Runtime differs from PyTorch by '
                               f'{worst:.2e} (> {atol}) at {h}x{w}')
        return worst
    if found['mean_abs_prob'] > FP16_MEAN_PROB_ATOL or \
            found['mask_mismatch'] > FP16_MASK_MISMATCH or \
            found['max_rel_feature'] > FP16_FEATURE_RTOL:
        raise RuntimeError(
            f'the float16 graphs in ONNX Runtime differ from PyTorch '
            f'float32 at {h}x{w}: mean |prob difference| '
            f'{found["mean_abs_prob"]:.2e} (limit {FP16_MEAN_PROB_ATOL:g}), '
            f'{found["mask_mismatch"]:.2%} of the mask pixels (limit '
            f'{FP16_MASK_MISMATCH:.0%}), key / value '
            f'{found["max_rel_feature"]:.2e} of their largest magnitude '
            f'(limit {FP16_FEATURE_RTOL:g})')
    return found['max_abs_prob']


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, USAGE)
        check_checkpoint_path(args.checkpoint, USAGE)
        # before the model is loaded: an unwritable folder fails at once
        check_output_dir(args.out_dir, '--out-dir')
        size = tuple(args.size) if args.size else config_test_size(cfg)
        float_resize = config_input_dtype(cfg) == np.float32
        if args.verify:
            try:  # before the export, not after it
                import onnxruntime  # noqa: F401
            except ImportError:
                raise CLIError('--verify needs onnxruntime (pip install '
                               'onnxruntime)')
        model, _ = _load_model(args.config, args.checkpoint)
        model.eval()
        dynamic = not args.static
        paths = export(model, args.out_dir, size, args.opset,
                       dynamic=dynamic,
                       metadata=preprocessing_metadata(
                           model, size, dynamic, args.config, float_resize,
                           fp16=args.fp16),
                       fp16=args.fp16)
        dtype = 'float16' if args.fp16 else 'float32'
        print(f'input: (1, 3, {size[0]}, {size[1]}) {dtype} NCHW'
              + (' (H, W dynamic)' if dynamic else ''))
        for path in paths:
            print(f'wrote {path}')
        if args.verify:
            stats = {}
            diff = verify(model, args.out_dir, size, fp16=args.fp16,
                          stats=stats)
            print(f'onnxruntime vs PyTorch: max abs difference {diff:.2e}'
                  + (f' (float16 graphs vs float32 PyTorch, probabilities; '
                     f'mean {stats["mean_abs_prob"]:.2e}, mask pixels '
                     f'differing {stats["mask_mismatch"]:.3%}, key / value '
                     f'{stats["max_rel_feature"]:.2e} of their scale)'
                     if args.fp16 else ''))
    except (OSError, ValueError, RuntimeError) as e:
        print(f'export_onnx: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
