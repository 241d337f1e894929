# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmengine.optim.scheduler import PolyLR
from mmseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class PDNetPolyLR(PolyLR):
    """Poly decay with the PDNet authors' horizon: iteration ``t`` (from 0)
    of a schedule of ``T`` iterations trains at ``lr * (1 - t / T)^power``.

    MMEngine's ``PolyLR`` decays over ``T - 1`` steps and reaches
    ``eta_min`` at the last iteration, ``(1 - t / (T - 1))^power``; the
    two differ by more than 1e-3 (relative) in the last ~1,000 iterations
    of the paper's schedule. The chainable form is kept, so it composes
    with ``MultiStepLR`` (the x0.5 from epoch 6) as ``PolyLR`` does.

    Args: as :class:`mmengine.optim.PolyLR`; ``end - begin`` is ``T``.
    """

    def __init__(self, optimizer, *args, **kwargs):
        super().__init__(optimizer, *args, **kwargs)
        # PolyParamScheduler sets end - begin - 1; its chainable factor
        # (1 - 1 / (total_iters - t + 1))^power then multiplies up to
        # ((total_iters - t) / total_iters)^power.
        self.total_iters = self.end - self.begin
