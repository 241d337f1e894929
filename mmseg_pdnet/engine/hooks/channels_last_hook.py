# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Run the model in ``torch.channels_last`` memory format.

    Converts the weights once before the run and makes the
    :class:`PairedSegDataPreProcessor` hand channels-last inputs to the
    model; on CUDA with AMP this lets convolutions use tensor-core kernels
    without layout conversions. Results are unchanged up to floating-point
    reordering (see docs/performance.md). Enable with
    ``custom_hooks = [dict(type='ChannelsLastHook')]``.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
        model.data_preprocessor.channels_last = True
