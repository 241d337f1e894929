#!/usr/bin/env python
"""Time the J&F evaluation core on synthetic 480x854 frames.

Times what ``JFMetric`` does: per-frame J, F and mask packing
(``process``), then grouping, sequence statistics and temporal stability
(``compute_metrics``). Mask synthesis and file reading are not timed.

Example:
    python tools/analysis_tools/benchmark_eval.py --frames 4000
"""
import argparse

import cv2
import numpy as np

from mmseg_pdnet.evaluation.metrics.jf_core import evaluate_frame
from mmseg_pdnet.evaluation.metrics.jf_summary import summarize
from mmseg_pdnet.utils.benchmarking import device_name, now


def synthetic_frame(rng, h, w, t, speckles):
    """A portrait-like blob and a prediction with a jittered outline."""
    gt = np.zeros((h, w), np.uint8)
    cx = int(w / 2 + 60 * np.sin(t / 20))
    cv2.ellipse(gt, (cx, int(h * 0.55)), (int(w * 0.15), int(h * 0.4)), 0, 0,
                360, 1, -1)
    cv2.circle(gt, (cx, int(h * 0.18)), int(h * 0.1), 1, -1)
    pred = cv2.dilate(gt, np.ones((3, 3), np.uint8)) if t % 2 else gt.copy()
    pred[rng.integers(0, h, speckles), rng.integers(0, w, speckles)] ^= 1
    return pred.astype(bool), gt.astype(bool)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=4000)
    parser.add_argument('--seq-len', type=int, default=100)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--width', type=int, default=854)
    parser.add_argument('--speckles', type=int, default=50,
                        help='random pixels flipped per prediction: they '
                        'spread the boundaries over the whole frame (the '
                        'worst case); 0 gives compact outlines')
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    pool = [synthetic_frame(rng, args.height, args.width, t, args.speckles)
            for t in range(50)]  # mask synthesis is not what we time
    print(f'device: {device_name("cpu")}')
    start = now('cpu')
    frames = []
    for i in range(args.frames):
        pred, gt = pool[i % len(pool)]
        frame = evaluate_frame(pred, gt)
        first = i - i % args.seq_len
        frame.update(seq_name=f'seq{i // args.seq_len:03d}',
                     frame_idx=i - first,
                     num_frames=min(args.seq_len, args.frames - first),
                     category=None)
        frames.append(frame)
    per_frame = now('cpu') - start
    summary = summarize(frames)
    total = now('cpu') - start
    print(f'{args.frames} frames of {args.height}x{args.width}: per-frame '
          f'J/F {per_frame:.1f} s, with sequence statistics and temporal '
          f'stability {total:.1f} s ({1000 * total / args.frames:.2f} '
          f'ms/frame); J&F {100 * summary["J&F"]:.1f}')


if __name__ == '__main__':
    main()
