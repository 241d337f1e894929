# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import itertools
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from .interleaved_loader import InterleavedImageVideoLoader

PHASES = ('video', 'image')


@LOOPS.register_module()
class AlternatingImageVideoLoop(EpochBasedTrainLoop):
    """PDNet's alternating image/video training (REFERENCE.md section 3).

    Every epoch runs one image batch before every two video batches, so an
    epoch is ``V + ceil(V / 2)`` iterations for V video batches (the
    authors' count). ``runner.train_dataloader`` is the interleaved loader
    and has that length, so epoch-based parameter schedulers converted to
    iterations (poly decay, the x0.5 factor from epoch 6) follow the
    iterations of both phases.

    Each phase steps its own optimizer wrapper: with an ``OptimWrapperDict``
    of ``video`` and ``image`` wrappers, video batches update the whole
    model (small lr on the backbone, see
    :class:`PhaseOptimWrapperConstructor`) and image batches the backbone
    only. The model's ``train_step`` (on the DDP wrapper when distributed)
    gets ``optim_wrapper[phase]``, so AMP (``AmpOptimWrapper``) and
    gradient synchronisation are MMEngine's. Logged losses carry the phase
    as prefix (``video.loss_seg``, ``image.loss_seg``, ...) and
    :attr:`phase` tells hooks the phase of the current iteration.

    Without ``image_dataloader`` it is video-only epoch training (a plain
    ``OptimWrapper`` is then accepted too).

    Resuming restores the iteration count and the schedulers (MMEngine) and
    the phase of the alternation: an epoch always starts with the same
    phase sequence, and a checkpoint taken in the middle of an epoch
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

        Args:
            idx (int): Index of the iteration within the epoch.
            data_batch (tuple[str, dict]): ``(phase, batch)``.
        """
        phase, batch = data_batch
        if phase != self.phase:
            # The other phase's backward left gradients on parameters that
            # its optimizer does not step (e.g. the heads after an image
            # step); they must not leak into this phase's update.
            self._model.zero_grad(set_to_none=True)
        self.phase = phase
        self.runner.call_hook(
            'before_train_iter', batch_idx=idx, data_batch=batch)
        outputs = self.runner.model.train_step(
            batch, optim_wrapper=self._optim_wrapper(phase))
        outputs = {f'{phase}.{k}': v for k, v in outputs.items()}
        self.runner.call_hook(
            'after_train_iter', batch_idx=idx, data_batch=batch,
            outputs=outputs)
        self._iter += 1

    @property
    def _model(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _optim_wrapper(self, phase: str) -> OptimWrapper:
        wrapper = self.runner.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            if phase not in wrapper:
                raise KeyError(
                    f'optim_wrapper has no {phase!r} wrapper (it has '
                    f'{list(wrapper.keys())}); AlternatingImageVideoLoop '
                    "needs 'video' and, with an image_dataloader, 'image' "
                    '(see PhaseOptimWrapperConstructor)')
            return wrapper[phase]
        if phase == 'image':
            raise TypeError(
                'image steps need an OptimWrapperDict with an \'image\' '
                'wrapper that updates the backbone only; got a single '
                f'{type(wrapper).__name__}. Use '
                "optim_wrapper=dict(constructor='PhaseOptimWrapperConstructor'"
                ', video=..., image=...) or drop image_dataloader')
        return wrapper
