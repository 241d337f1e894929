# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Per-sample or averaged part losses.

The part losses are averages over samples. A training step scores many
(frame, masking) pairs of part maps; computing them as the samples of one
batch, with one value per sample (``reduction='none'``), runs each loss
once instead of once per pair.
"""
from torch import Tensor

REDUCTIONS = ('mean', 'none')


def reduce_samples(per_sample: Tensor, reduction: str) -> Tensor:
    """Average per-sample loss values (``'mean'``) or keep them
    (``'none'``).

    Args:
        per_sample (Tensor): One value per sample, any shape.
        reduction (str): ``'mean'`` or ``'none'``.

    Returns:
        Tensor: A scalar, or ``per_sample`` itself.
    """
    if reduction == 'mean':
        return per_sample.mean()
    if reduction == 'none':
        return per_sample
    raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                     f'{reduction!r}')
