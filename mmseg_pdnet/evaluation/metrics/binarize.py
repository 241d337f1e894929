# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""How a foreground probability becomes the binary mask that J&F scores.

Two protocols are in use (docs/evaluation.md, "Two protocols"):

- a threshold ``t`` in (0, 1): foreground iff ``p >= t``; ``t = 0.5`` is
  the DAVIS-style protocol of ``JFMetric`` by default;
- ``'authors'``: the PDNet authors save result PNGs of ``round(255 p)``
  and the MVPS evaluation code counts any non-zero pixel of a result PNG as
  foreground, so foreground iff ``round(255 p) >= 1``, i.e. ``p > 1/510``
  (``p = 1/510`` gives 0.5, which rounds to 0). The paper's numbers use it.

:func:`binarize_probability` is the one implementation of both rules,
shared by ``JFMetric`` and the folder evaluator (``tools/eval_masks.py``);
:func:`quantize_probability` is the one implementation of the result PNGs
(``SaveMasksHook``), so the metric and the PNG pipeline agree bit for bit.
"""
import numbers
from typing import Union

import numpy as np

AUTHORS = 'authors'
Threshold = Union[float, str]


def check_threshold(threshold: Threshold) -> Threshold:
    """Validate a binarisation: a float in (0, 1) or ``'authors'``.

    Args:
        threshold (float | str): The binarisation to check.

    Returns:
        float | str: ``float(threshold)``, or ``'authors'``.
    """
    if isinstance(threshold, str):
        if threshold != AUTHORS:
            raise ValueError(f'threshold must be a float in (0, 1) or '
                             f'{AUTHORS!r}, got {threshold!r}')
        return threshold
    if (isinstance(threshold, bool)
            or not isinstance(threshold, numbers.Real)
            or not 0 < threshold < 1):
        raise ValueError(f'threshold must be a float in (0, 1) or '
                         f'{AUTHORS!r}, got {threshold!r}')
    return float(threshold)


def threshold_name(threshold: Threshold) -> str:
    """Short name used in metric keys and file names: ``'authors'`` or
    ``'th<t>'`` (e.g. ``'th0.5'``)."""
    threshold = check_threshold(threshold)
    return threshold if threshold == AUTHORS else f'th{threshold:g}'


def describe_threshold(threshold: Threshold) -> str:
    """One line saying which pixels are foreground (logs and JSON)."""
    threshold = check_threshold(threshold)
    if threshold == AUTHORS:
        return ('authors: round(255 p) >= 1, i.e. p > 1/510 (the authors\' '
                'round(255 p) result PNGs, any non-zero pixel is foreground '
                'as in the MVPS evaluation code)')
    davis = ' (DAVIS-style)' if threshold == 0.5 else ''
    return f'p >= {threshold:g}{davis}'


def quantize_probability(prob: np.ndarray) -> np.ndarray:
    """The authors' result PNG values: ``round(255 * p)`` as uint8.

    ``np.round`` rounds half to even (like ``torch.round``), in the
    probability's own precision (float32 for the model's output), so
    ``p = 1/510`` gives 0 and ``p = 0.5`` gives 128. Values outside [0, 1]
    are clipped first.

    Args:
        prob (np.ndarray): ``(H, W)`` floating-point probabilities.

    Returns:
        np.ndarray: ``(H, W)`` uint8 in 0..255.
    """
    prob = np.asarray(prob)
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(f'expected floating-point probabilities, got '
                         f'{prob.dtype}')
    return np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8)


def binarize_probability(prob: np.ndarray,
                         threshold: Threshold = 0.5) -> np.ndarray:
    """Foreground mask of a probability map under one protocol.

    Args:
        prob (np.ndarray): ``(H, W)`` foreground probabilities, either
            floating point in [0, 1] or uint8 levels ``round(255 p)`` (the
            result PNGs of :func:`quantize_probability`), read as
            ``level / 255``.
        threshold (float | str): A float ``t`` in (0, 1): foreground iff
            ``p >= t`` (uint8: ``level >= 255 t``, e.g. ``>= 128`` for 0.5).
            ``'authors'``: foreground iff ``round(255 p) >= 1``, i.e.
            ``p > 1/510`` (uint8: any non-zero level, as the MVPS
            evaluation code reads the authors' PNGs).

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    threshold = check_threshold(threshold)
    prob = np.asarray(prob)
    if prob.dtype == np.uint8:
        if threshold == AUTHORS:
            return prob > 0
        return prob >= 255 * threshold  # compared in float64: exact
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(f'expected floating-point or uint8 probabilities, '
                         f'got {prob.dtype}')
    if threshold == AUTHORS:
        # the PNG values themselves, so that the metric and
        # SaveMasksHook + eval_masks.py --pred-format mvps agree exactly
        return quantize_probability(prob) > 0
    return prob >= threshold
