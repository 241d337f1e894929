# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import find_latest_checkpoint
from mmseg.registry import HOOKS

from mmseg_pdnet.utils.authors_checkpoint import from_authors_layout
from mmseg_pdnet.utils.checkpoint import (CheckpointError, get_state_dict,
                                          match_state_dict)


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Refuse a ``load_from`` / ``resume`` checkpoint that does not fit.

    MMEngine's runner loads ``load_from`` (and resumes) with
    ``strict=False``: a checkpoint of another architecture loads silently
    and, e.g., evaluates to J&F 0. This hook checks the weights the runner
    has just read (``after_load_checkpoint``, before they reach the model)
    with :func:`mmseg_pdnet.utils.checkpoint.match_state_dict`: missing,
    unexpected or shape-mismatched keys (the training-only ``part_loss.*``
    aside) raise one :class:`~mmseg_pdnet.utils.CheckpointError` naming the
    file, the config and the counts. ``tools/train.py`` and
    ``tools/test.py`` add it; their ``--allow-partial-load`` sets
    ``strict=False``.

    A ``load_from`` checkpoint of the authors' code (iCVTEAM/PDNet) is
    converted in memory first (one log line), so ``tools/test.py`` and
    fine-tuning take the authors' file as it is. It cannot be resumed: it
    holds no MMEngine training state.

    Args:
        strict (bool): Refuse a checkpoint that does not fit. With False,
            log what does not fit and load the rest (weights of mismatched
            shape are dropped, which MMEngine would refuse). Defaults to
            True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True):
        self.strict = strict

    @staticmethod
    def _filename(runner) -> str:
        # what Runner.load_or_resume loads: load_from, or (auto resume)
        # the file named in work_dir/last_checkpoint
        name = runner.cfg.get('load_from')
        if name is None and runner.cfg.get('resume'):
            name = find_latest_checkpoint(runner.work_dir)
        return name or '<checkpoint>'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        filename = self._filename(runner)
        converted = from_authors_layout(checkpoint, filename)
        if converted is not checkpoint:
            if runner._resume:
                raise CheckpointError(
                    f"{filename}: the authors' checkpoint holds weights, no "
                    'MMEngine training state: start from it with load_from '
                    '(--cfg-options load_from=...), it cannot be resumed')
            # in place: the runner loads checkpoint['state_dict'] next
            checkpoint.clear()
            checkpoint.update(converted)
        state = get_state_dict(checkpoint, filename)
        fitting = match_state_dict(model, state, filename,
                                   runner.cfg.filename, self.strict)
        if len(fitting) != len(state):
            # in place: the runner loads checkpoint['state_dict'] next
            # (its _metadata attribute is kept)
            state.clear()
            state.update(fitting)
