# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import logging
from typing import Callable, Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from ..optimizers import apply_phase_lr, restore_lr
from .interleaved_loader import InterleavedImageVideoLoader
from .random_state import TrainingRandomStates, seeded_loader

PHASES = ('video', 'image')
#: message-hub key of the loop's resume state (runtime info starting with
#: ``train`` would be logged by MMEngine's LogProcessor)
RESUME_STATE_KEY = 'alternating_loop'


def _put_back_seed(obj, seed: Optional[int], what: str) -> None:
    """Set ``obj.seed`` (a sampler's) to the checkpoint's ``seed``."""
    current = getattr(obj, 'seed', None)
    if seed is None or not isinstance(current, int) or current == seed:
        return
    # e.g. randomness.seed=None: the resumed run built its samplers with a
    # new random seed
    print_log(f'Resuming with the checkpoint\'s {what} seed {seed} '
              f'(instead of {current}).', logger='current')
    obj.seed = seed


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

    Resume is exact: killed and resumed from a checkpoint (the end of an
    epoch, or any iteration), a run ends with the weights of the run that
    was not interrupted, on the same machine and software (up to GPU
    kernels that are not deterministic themselves). Besides what MMEngine
    restores (iteration, optimizer and momentum buffers, schedulers,
    seed), the loop keeps in the message hub, which checkpoints save and
    ``resume`` loads (key :data:`RESUME_STATE_KEY`), whatever else decides
    the next iterations (:mod:`.random_state`):

    - data: each sample's random draws (crop, flip, random reference
      frame...) are seeded by (data seed, video/image stream, epoch,
      index), in the process that loads it, so they do not depend on the
      dataloader workers (``num_workers``, ``persistent_workers``) nor on
      what was loaded before. The data seeds and the samplers' seeds
      (which order the samples; MMEngine rebuilds them with a new seed when
      ``randomness.seed`` is None) are saved and put back;
    - training: the Python, NumPy, torch (CPU and current GPU) generators
      as the last training step left them; the training steps draw from
      that stream only, so validation, logging or saving between them
      change nothing;
    - position: the phase of the alternation (an epoch always runs the
      same phase sequence) and the position of the image stream, checked
      against the resumed run's. A checkpoint taken inside an epoch resumes
      at the next iteration of that epoch: the batches before it are
      skipped without being loaded.

    One limit: in distributed training with ``randomness.diff_rank_seed``,
    every rank resumes with rank 0's training stream (the checkpoint is
    written by rank 0); the data stays exact. The default
    (``diff_rank_seed=False``) gives every rank the same stream, and the
    resume is exact.

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
        video_dataloader = seeded_loader(
            self.dataloader, self._data_seed(self.dataloader), 'video')
        if image_dataloader is not None:
            image_dataloader = seeded_loader(
                image_dataloader, self._data_seed(image_dataloader), 'image')
        self.dataloader = InterleavedImageVideoLoader(
            video_dataloader, image_dataloader, video_per_image)
        self._max_iters = self._max_epochs * len(self.dataloader)
        self.phase: Optional[str] = None
        self.random_states = TrainingRandomStates()
        self._exit_callbacks: List[Callable[[], None]] = []
        if image_dataloader is None:
            print_log('AlternatingImageVideoLoop: no image_dataloader, '
                      'training on video batches only.', logger='current')

    def _data_seed(self, loader) -> int:
        # the sampler's seed: the same on every rank, also with
        # diff_rank_seed (MMEngine then draws one for all ranks)
        seed = getattr(getattr(loader, 'sampler', None), 'seed', None)
        return seed if isinstance(seed, int) else self.runner.seed

    def _loaders(self) -> Dict[str, Optional[DataLoader]]:
        return dict(video=self.dataloader.video_loader,
                    image=self.dataloader.image_loader)

    def state_dict(self) -> dict:
        """What resumes the loop exactly, besides MMEngine's state: the
        position after the last training step, the data and sampler seeds
        and the training random stream (see the class docstring).

        Returns:
            dict: Plain types and tensors (a checkpoint holding it loads
            with ``torch.load(weights_only=True)``).
        """
        data_seeds, sampler_seeds = {}, {}
        for name, loader in self._loaders().items():
            sampler = getattr(loader, 'sampler', None)
            data_seeds[name] = getattr(sampler, 'seed', None)
            sampler_seeds[name] = getattr(
                getattr(sampler, 'sampler', None), 'seed', None)
        return dict(
            iter=self._iter + 1, epoch=self._epoch, phase=self.phase,
            image_batches=self.dataloader.image_batches_consumed,
            data_seeds=data_seeds, sampler_seeds=sampler_seeds,
            random_states=self.random_states.states)

    def load_state_dict(self, state: dict) -> None:
        """Put back a :meth:`state_dict` saved at the current iteration.

        Args:
            state (dict): From :meth:`state_dict`.
        """
        for name, loader in self._loaders().items():
            seeded_sampler = getattr(loader, 'sampler', None)
            _put_back_seed(seeded_sampler, state['data_seeds'].get(name),
                           f'{name} data')
            _put_back_seed(getattr(seeded_sampler, 'sampler', None),
                           state['sampler_seeds'].get(name),
                           f'{name} sampler')
        self.random_states.states = state['random_states']
        self.phase = state['phase']
        done = self._iter - self._epoch * len(self.dataloader)
        position = (self._epoch * self.dataloader.num_image_batches +
                    self.dataloader.phases()[:done].count('image'))
        if position != state['image_batches']:
            print_log(
                f'The image stream resumes at batch {position}, the '
                f'checkpoint was taken at batch {state["image_batches"]}: '
                'the dataloaders differ from the interrupted run\'s.',
                logger='current', level=logging.WARNING)

    def add_exit_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when :meth:`run` ends, normally or on an
        error (``after_train`` is not called on an error): e.g. a hook
        putting back the signal handlers it installed.

        Args:
            callback (callable): Takes no argument.
        """
        self._exit_callbacks.append(callback)

    def run(self):
        """Train; a resumed run first puts back the loop's state. The
        dataloader workers are shut down at the end (also when training
        stops on an error), and the exit callbacks are called."""
        if self._iter > 0:
            state = self.runner.message_hub.get_info(RESUME_STATE_KEY)
            if state is not None and state.get('iter') == self._iter:
                self.load_state_dict(state)
            else:
                print_log(
                    'The checkpoint holds no random state of this loop at '
                    f'iteration {self._iter}: the run goes on, but with '
                    'other random draws than without interruption.',
                    logger='current', level=logging.WARNING)
        try:
            return super().run()
        finally:
            self.dataloader.close()
            callbacks, self._exit_callbacks = self._exit_callbacks, []
            for callback in callbacks:
                callback()

    def run_epoch(self) -> None:
        """One epoch of interleaved image and video iterations."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._iter - self._epoch * len(self.dataloader)
        if done > 0:  # resumed from a checkpoint taken inside this epoch
            print_log(f'Resuming inside epoch {self._epoch + 1} at '
                      f'iteration {done + 1}: skipping {done} batches.',
                      logger='current')
        self.dataloader.set_epoch(self._epoch, start=done)
        for idx, data_batch in enumerate(self.dataloader, start=done):
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
        with self.random_states.step():
            scheduled = apply_phase_lr(optim_wrapper.optimizer, phase)
            try:
                self.runner.call_hook(
                    'before_train_iter', batch_idx=idx, data_batch=batch)
                outputs = self.runner.model.train_step(
                    batch, optim_wrapper=optim_wrapper)
            finally:
                restore_lr(optim_wrapper.optimizer, scheduled)
        # before after_train_iter, where checkpoints are saved
        self.runner.message_hub.update_info(RESUME_STATE_KEY,
                                            self.state_dict())
        outputs = {f'{phase}.{k}': v for k, v in outputs.items()}
        self.runner.call_hook(
            'after_train_iter', batch_idx=idx, data_batch=batch,
            outputs=outputs)
        self._iter += 1
