# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Random states of a training run, kept so that a resumed run is exact.

Two kinds of randomness are consumed while training, in different places:

- **data** (augmentations: :class:`PairedRandomCrop`, ``PairedRandomFlip``,
  the ``'random'`` reference frame, ...) draw from the global NumPy /
  Python / torch generators of the process that runs the pipeline: the
  main process with ``num_workers=0``, the dataloader workers otherwise,
  where the generators cannot be saved (with ``persistent_workers=True``
  they even live across epochs). So nothing of them is saved: every
  sample is drawn under a seed that is a function of (seed, stream, epoch,
  sample index) only (:class:`SeededSampler`, :class:`SeededDataset`),
  whatever the worker, its history, or whether a batch was loaded before.
- **training** (dropout, random ops in the model or the losses, hooks
  run in ``before_train_iter``) draws from the generators of the main
  process. Their states after every training step are kept apart from
  what runs between the steps (validation, checkpointing, logging, data
  loading), see :class:`TrainingRandomStates`, and saved with the
  checkpoint.
"""
import logging
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
from torch.utils.data import DataLoader, IterableDataset, Sampler

#: stream ids mixed into the per-sample seeds (video and image samples
#: with the same index get different draws)
STREAMS = ('video', 'image')


def get_rng_states() -> Dict[str, Any]:
    """The states of the global generators of this process.

    Plain types and tensors only, so that the states can be stored in a
    checkpoint that loads with ``torch.load(weights_only=True)``. CUDA: the
    generator of the current device (each rank uses its own), when CUDA
    has been initialized.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and, with CUDA, ``cuda``.
    """
    _, keys, pos, has_gauss, cached = np.random.get_state()
    states = dict(
        python=random.getstate(),
        numpy=dict(keys=torch.from_numpy(keys.astype(np.int64)), pos=pos,
                   has_gauss=has_gauss, cached_gaussian=cached),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Set the global generators of this process (see
    :func:`get_rng_states`).

    Args:
        states (dict): States from :func:`get_rng_states`. The tensors may
            have been moved to a GPU by ``map_location``.
    """
    version, internal, gauss = states['python']
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))
    n = states['numpy']
    np.random.set_state(
        ('MT19937', n['keys'].cpu().numpy().astype(np.uint32), int(n['pos']),
         int(n['has_gauss']), float(n['cached_gaussian'])))
    torch.set_rng_state(states['torch'].cpu())
    if states.get('cuda') is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(states['cuda'].cpu())


class TrainingRandomStates:
    """The main process's random stream of the training steps.

    :meth:`step` runs a training step from the states the previous step
    ended with, and hands the generators back to the rest of the process
    as they were before the step. So what the training steps draw (dropout,
    random ops of the model and losses, ``before_train_iter`` hooks) does
    not depend on what runs between them (validation, logging, saving,
    data loading), and the states after the last step, saved with the
    checkpoint, are exactly where a resumed run continues.

    Hooks running between the steps keep a stream of their own, which
    carries on from step to step but is not saved.
    """

    def __init__(self):
        #: states after the last step; None before the first step (it
        #: starts from the generators as seeded by ``randomness``)
        self.states: Optional[Dict[str, Any]] = None

    @contextmanager
    def step(self):
        """Context of one training step (see the class docstring)."""
        outside = get_rng_states()
        if self.states is not None:
            set_rng_states(self.states)
        try:
            yield
        finally:
            self.states = get_rng_states()
            set_rng_states(outside)


def sample_seed(seed: int, stream: int, epoch: int, index: int) -> int:
    """The seed of one sample's random draws.

    Args:
        seed (int): The run's data seed.
        stream (int): Index in :data:`STREAMS`.
        epoch (int): The sampler's epoch (the pass over the dataset).
        index (int): The sample index.

    Returns:
        int: A 32-bit seed (NumPy's legacy generator takes no more).
    """
    entropy = [int(seed) % 2**64, int(stream), int(epoch), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@contextmanager
def seeded(seed: int):
    """Seed Python's, NumPy's and torch's (CPU) global generators, and put
    them back as they were on exit, so that a sample fetched in the main
    process (``num_workers=0``) leaves the training stream untouched.

    Args:
        seed (int): A 32-bit seed.
    """
    py, np_state, th = random.getstate(), np.random.get_state(), \
        torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    # not torch.manual_seed: it would also reseed the GPUs' generators
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(th)


class SeededSampler(Sampler):
    """Yields ``(index, seed)``: the wrapped sampler's indices, each with
    the seed of its random draws (:func:`sample_seed` of the data seed, the
    stream, the epoch and the index).

    The order of the indices is the wrapped sampler's (MMEngine's
    ``DefaultSampler``: a function of its seed and epoch), so the batch at
    a position of an epoch, and its augmentation, are the same whether the
    epoch runs through or is resumed in its middle.

    Args:
        sampler (Sampler): The sampler to wrap.
        seed (int): The data seed.
        stream (str): One of :data:`STREAMS`.
    """

    def __init__(self, sampler, seed: int, stream: str):
        self.sampler = sampler
        self.seed = seed
        self.stream = stream
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The wrapped sampler's epoch (which MMEngine's
        ``DistSamplerSeedHook`` sets), or the one given to
        :meth:`set_epoch` when it has none."""
        return getattr(self.sampler, 'epoch', self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (also of the wrapped sampler)."""
        self._epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        stream = STREAMS.index(self.stream)
        for index in self.sampler:
            yield index, sample_seed(self.seed, stream, self.epoch, index)

    def __len__(self) -> int:
        return len(self.sampler)


class SeededDataset:
    """A map-style dataset whose ``(index, seed)`` items are fetched under
    ``seed`` (:func:`seeded`); plain indices are fetched as they are.

    The wrapper is what the dataloader workers receive, so the seeding
    happens where the pipeline runs. Attributes other than ``dataset`` are
    the wrapped dataset's (``metainfo``, ...).

    Args:
        dataset (Dataset): The dataset to wrap.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __getitem__(self, item):
        if isinstance(item, tuple):
            index, seed = item
            with seeded(seed):
                return self.dataset[index]
        return self.dataset[item]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def unwrap_dataset(dataset):
    """The dataset inside a :class:`SeededDataset` (or ``dataset``)."""
    return dataset.dataset if isinstance(dataset, SeededDataset) else dataset


def unwrap_sampler(sampler):
    """The sampler inside a :class:`SeededSampler` (or ``sampler``)."""
    return sampler.sampler if isinstance(sampler, SeededSampler) else sampler


def clone_loader(loader: DataLoader, **changes) -> DataLoader:
    """A DataLoader with ``loader``'s settings, some of them changed.

    Args:
        loader (DataLoader): A loader batching with ``batch_size`` (no
            ``batch_sampler`` of its own).
        **changes: DataLoader arguments to change (``dataset``,
            ``sampler``, ``generator``, ``persistent_workers``, ...).

    Returns:
        DataLoader: The new loader (no worker is started before it is
        iterated).
    """
    kwargs = dict(
        dataset=loader.dataset, batch_size=loader.batch_size,
        sampler=loader.sampler, num_workers=loader.num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        drop_last=loader.drop_last, timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device)
    if loader.num_workers > 0:
        kwargs['prefetch_factor'] = loader.prefetch_factor
    if hasattr(loader, 'in_order'):
        kwargs['in_order'] = loader.in_order
    kwargs.update(changes)
    if kwargs['num_workers'] == 0:
        kwargs.pop('prefetch_factor', None)
        kwargs['persistent_workers'] = False
    return DataLoader(**kwargs)


def seeded_loader(loader: DataLoader, seed: int, stream: str) -> DataLoader:
    """``loader`` with per-sample seeding (:class:`SeededSampler`,
    :class:`SeededDataset`) and a generator of its own.

    The generator of its own keeps the creation of the loader's iterators
    (which draws the workers' base seed) off the global torch generator.
    Loaders that cannot be wrapped (a ``batch_sampler`` of their own, an
    iterable dataset) are returned as they are, with a warning: their
    augmentations are not exactly reproduced on resume.

    Args:
        loader (DataLoader): A training loader.
        seed (int): The data seed.
        stream (str): One of :data:`STREAMS`.

    Returns:
        DataLoader: The seeded loader.
    """
    if isinstance(getattr(loader, 'sampler', None), SeededSampler):
        return loader
    if (not isinstance(loader, DataLoader) or loader.batch_size is None
            or isinstance(loader.dataset, IterableDataset)):
        print_log(
            f'The {stream} dataloader has a batch_sampler of its own or an '
            'iterable dataset: its random augmentations are not seeded per '
            'sample, and a resumed run draws other ones.',
            logger='current', level=logging.WARNING)
        return loader
    generator = torch.Generator()
    generator.manual_seed(int(seed) + STREAMS.index(stream))
    sampler = SeededSampler(loader.sampler, seed, stream)
    return clone_loader(loader, dataset=SeededDataset(loader.dataset),
                        sampler=sampler, generator=generator)
