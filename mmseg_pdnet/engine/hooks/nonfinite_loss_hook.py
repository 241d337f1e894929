# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Stop training at a non-finite loss before anything saves the state."""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..errors import NonFiniteLossError
from .atomic_checkpoint_hook import read_last_checkpoint

#: message-hub keys (saved with the checkpoints, so a resumed run counts on)
SKIPPED_TOTAL = 'amp_skipped_steps'
SKIPPED_IN_A_ROW = 'amp_skipped_in_a_row'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN / inf loss (float32), or after
    ``max_skipped_steps`` optimizer steps in a row skipped by the AMP loss
    scaler.

    It runs first in ``after_train_iter`` (priority ``VERY_HIGH``) and
    raises :class:`NonFiniteLossError`: the hooks after it, the checkpoint
    hook among them, do not run, so nothing is saved from the broken state
    and ``last_checkpoint`` keeps naming the last good checkpoint. The
    message names the iteration and the loss terms (``video.loss_geo``...).

    Under AMP (an optim wrapper with a ``loss_scaler``: MMEngine's
    ``AmpOptimWrapper``, float16 or bfloat16) a non-finite loss or gradient
    is expected now and then: PyTorch's ``GradScaler`` skips that step and
    halves its scale (``backoff_factor`` 0.5), so single non-finite losses
    do not stop training there. A step is counted as skipped when the
    scale went down during it; the counts are kept in the message hub
    (``amp_skipped_steps``, in every checkpoint) and the epoch's count is
    logged. ``max_skipped_steps`` (100) skips in a row halve the scale 100
    times (a factor 2^-100, from the default 2^16 to about 2^-84, far below
    any scale at which float16 gradients can overflow): such a run no
    longer is an overflow the scale search recovers from, the gradients are
    NaN / inf whatever the scale. A healthy run skips a few steps in a row
    at most (the start, and after each growth of the scale every 2000
    steps).

    Args:
        max_skipped_steps (int): AMP steps skipped in a row that stop
            training. Defaults to 100.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_skipped_steps: int = 100):
        if max_skipped_steps < 1:
            raise ValueError('max_skipped_steps must be >= 1, got '
                             f'{max_skipped_steps}')
        self.max_skipped_steps = max_skipped_steps
        self._scale_before: Optional[float] = None
        self._epoch_skips = 0

    @staticmethod
    def _scaler(runner):
        return getattr(runner.optim_wrapper, 'loss_scaler', None)

    def before_train_epoch(self, runner) -> None:
        self._epoch_skips = 0

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        scaler = self._scaler(runner)
        self._scale_before = None if scaler is None else float(
            scaler.get_scale())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self._scaler(runner) is not None:
            self._count_skipped_step(runner)
        else:
            self._check_losses(runner, outputs or {})

    def after_train_epoch(self, runner) -> None:
        if self._epoch_skips:
            runner.logger.warning(
                f'AMP: the loss scaler skipped {self._epoch_skips} steps of '
                f'epoch {runner.epoch + 1} (non-finite gradients; loss scale '
                f'now {self._scaler(runner).get_scale():g}).')

    # -------------------------------------------------------------------
    def _where(self, runner) -> str:
        done = runner.iter + 1
        per_epoch = len(runner.train_dataloader)
        within = done - runner.epoch * per_epoch
        return (f'iteration {done} (epoch {runner.epoch + 1}, iteration '
                f'{within} of {per_epoch})')

    @staticmethod
    def _kept(runner) -> str:
        last = read_last_checkpoint(runner.work_dir)
        if last is None:
            return 'no checkpoint had been saved'
        return f'the last good checkpoint {last} is kept (last_checkpoint)'

    def _check_losses(self, runner, outputs: dict) -> None:
        losses = {k: v for k, v in outputs.items() if 'loss' in k}
        if not losses:
            return
        values = torch.stack([
            torch.as_tensor(v, dtype=torch.float32).detach().reshape(())
            .cpu() for v in losses.values()
        ])
        if bool(torch.isfinite(values).all()):
            return
        bad = {k: float(v) for k, v in zip(losses, values.tolist())
               if not math.isfinite(v)}
        # name the terms; the totals (``video.loss``) follow from them
        terms = {k: v for k, v in bad.items()
                 if k.rsplit('.', 1)[-1] != 'loss'} or bad
        named = ', '.join(f'{k} = {v}' for k, v in terms.items())
        raise NonFiniteLossError(
            f'non-finite loss at {self._where(runner)}: {named}; training '
            f'stopped before saving anything of this step, '
            f'{self._kept(runner)}')

    def _count_skipped_step(self, runner) -> None:
        hub = runner.message_hub
        scale = float(self._scaler(runner).get_scale())
        skipped = (self._scale_before is not None
                   and scale < self._scale_before)
        in_a_row = hub.get_info(SKIPPED_IN_A_ROW, 0) + 1 if skipped else 0
        hub.update_info(SKIPPED_IN_A_ROW, in_a_row)
        if skipped:
            hub.update_info(SKIPPED_TOTAL, hub.get_info(SKIPPED_TOTAL, 0) + 1)
            self._epoch_skips += 1
        if in_a_row >= self.max_skipped_steps:
            raise NonFiniteLossError(
                f'{in_a_row} optimizer steps in a row skipped by the AMP loss '
                f'scaler (non-finite gradients at every loss scale down to '
                f'{scale:g}) at {self._where(runner)}; training stopped, '
                f'{self._kept(runner)}')
