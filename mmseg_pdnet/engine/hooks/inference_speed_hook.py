# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from mmseg_pdnet.utils.benchmarking import now


@HOOKS.register_module()
class InferenceSpeedHook(Hook):
    """Report test-time frames per second, as the paper's table 1.

    Two numbers over the test loop: the model alone (time from
    ``before_test_iter``, when the batch has been loaded, to
    ``after_test_iter``: preprocessing + paired forward + resizing the
    prediction back) and end to end (wall time including data loading).
    CUDA is synchronised around the timed span. The first ``warmup``
    iterations are not timed. The values also go to the message hub as
    ``test/fps_model`` and ``test/fps_total``.

    Args:
        warmup (int): Untimed first iterations. Defaults to 5.
    """

    priority = 'VERY_LOW'

    def __init__(self, warmup: int = 5):
        self.warmup = warmup

    @staticmethod
    def _now() -> float:
        # the model's queued GPU work belongs to the timed span
        return now('cuda' if torch.cuda.is_available() else 'cpu')

    def before_test_epoch(self, runner) -> None:
        self._model_time = 0.0
        self._frames = 0
        self._iters = 0
        self._epoch_start = self._now() if self.warmup == 0 else None

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        self._iter_start = self._now()

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        end = self._now()
        if self._iters >= self.warmup:
            self._model_time += end - self._iter_start
            self._frames += len(outputs or [])
            self._last_end = end
        elif self._iters == self.warmup - 1:
            self._epoch_start = end  # the next data loading is timed
        self._iters += 1

    def after_test_epoch(self, runner, metrics=None) -> None:
        if not self._frames:
            print_log('InferenceSpeedHook: too few test iterations to time '
                      f'(warmup={self.warmup})', logger='current')
            return
        fps_model = self._frames / self._model_time
        fps_total = self._frames / (self._last_end - self._epoch_start)
        runner.message_hub.update_info('test/fps_model', fps_model)
        runner.message_hub.update_info('test/fps_total', fps_total)
        print_log(f'Inference speed over {self._frames} frames: '
                  f'{fps_model:.1f} frames/s (model), {fps_total:.1f} '
                  'frames/s (with data loading)', logger='current')
