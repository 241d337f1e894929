# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import itertools
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from ..optimizers import apply_phase_lr, restore_lr
from .interleaved_loader import InterleavedImageVideoLoader

PHASES = ('video', 'image')


@LOOPS.register_module()
class AlternatingImageVideoLoop(EpochBasedTrainLoop):
    """PDNet's alternating image/video training (docs/fidelity.md).

    Every epoch runs one image batch before every two video batches, so an
    epoch is ``V + ceil(V / 2)`` iterations for V video batches (the
    authors' count). ``runner.train_dataloader`` is the interleaved loader
    and has that length, so epoch-based parameter schedulers converted to
    iterations (poly decay, the x0.5 factor from epoch 6) follow the
    iterations of both phases.

    Both phases step ONE optimizer (one momentum buffer per parameter,
    one loss scaler under AMP), as the authors: before each iteration the
    group lrs are multiplied by the phase's ``phase_lr_mult`` (image:
    backbone x1, the rest x0; video: backbone x0.01, the rest x10, see
    :class:`PhaseOptimWrapperConstructor`) and put back afterwards. The
    model's ``train_step`` (on the DDP wrapper when distributed) gets the
    wrapper, so AMP (``AmpOptimWrapper``) and gradient synchronisation are
    MMEngine's. Logged losses carry the phase as prefix (``video.loss_seg``,
    ``image.loss_seg``, ...) and :attr:`phase` tells hooks the phase of the
    current iteration.

    Without ``image_dataloader`` it is video-only epoch training.

    Resuming restores the iteration count, the optimizer (momentum
    buffers) and the schedulers (MMEngine), the phase of the alternation
    (an epoch always starts with the same phase sequence) and the position
    of the image stream; a checkpoint taken in the middle of an epoch
    replays that epoch's data up to the saved iteration without training
    on it (as MMEngine's ``IterBasedTrainLoop`` does).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The video dataloader.
        max_epochs (int): Total epochs.
        image_dataloader (DataLoader | dict, optional): Image batches
            (samples with ``is_image=True``). Defaults to None.
        video_per_image (int): Video batches per image batch. Defaults 2.
        val_begin (int): Epoch to begin validating. Defaults to 1.
        val_interval (int): Validation interval (epochs). Defaults to 1.
        dynamic_intervals (list[tuple[int, int]], optional): See
            :class:`mmengine.runner.EpochBasedTrainLoop`.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 image_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 video_per_image: int = 2,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None):
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        if isinstance(image_dataloader, dict):
            diff_rank_seed = runner._randomness_cfg.get(
                'diff_rank_seed', False)
            image_dataloader = runner.build_dataloader(
                image_dataloader, seed=runner.seed,
                diff_rank_seed=diff_rank_seed)
        self.dataloader = InterleavedImageVideoLoader(
            self.dataloader, image_dataloader, video_per_image)
        self._max_iters = self._max_epochs * len(self.dataloader)
        self.phase: Optional[str] = None
        if image_dataloader is None:
            print_log('AlternatingImageVideoLoop: no image_dataloader, '
                      'training on video batches only.', logger='current')

    def run_epoch(self) -> None:
        """One epoch of interleaved image and video iterations."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        self.dataloader.set_epoch(self._epoch)
        batches = enumerate(self.dataloader)
        done = self._iter - self._epoch * len(self.dataloader)
        if done > 0:  # resumed from a checkpoint taken inside this epoch
            print_log(f'Resuming inside epoch {self._epoch + 1}: replaying '
                      f'{done} batches without training on them.',
                      logger='current')
            batches = itertools.islice(batches, done, None)
        for idx, data_batch in batches:
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx: int, data_batch: Tuple[str, dict]) -> None:
        """One iteration of the phase the interleaved loader gives.

        The optimizer's group lrs are scaled by the phase's multipliers for
        this iteration only (hooks see the effective lrs) and put back
        before ``after_train_iter``, so the parameter schedulers and the
        checkpoints always hold the scheduled base lrs.

        Args:
            idx (int): Index of the iteration within the epoch.
            data_batch (tuple[str, dict]): ``(phase, batch)``.
        """
        phase, batch = data_batch
        self.phase = phase
        optim_wrapper = self.runner.optim_wrapper
        if isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                'AlternatingImageVideoLoop steps ONE optimizer in both '
                'phases, as the PDNet authors; got an OptimWrapperDict '
                f'({list(optim_wrapper.keys())}). Build one wrapper with '
                "constructor='PhaseOptimWrapperConstructor' and "
                'paramwise_cfg.phase_lr_mult (docs/fidelity.md)')
        scheduled = apply_phase_lr(optim_wrapper.optimizer, phase)
        try:
            self.runner.call_hook(
                'before_train_iter', batch_idx=idx, data_batch=batch)
            outputs = self.runner.model.train_step(
                batch, optim_wrapper=optim_wrapper)
        finally:
            restore_lr(optim_wrapper.optimizer, scheduled)
        outputs = {f'{phase}.{k}': v for k, v in outputs.items()}
        self.runner.call_hook(
            'after_train_iter', batch_idx=idx, data_batch=batch,
            outputs=outputs)
        self._iter += 1
