# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import itertools
import math
from typing import Iterable, Iterator, List, Optional, Tuple

from torch.utils.data import DataLoader

from .random_state import clone_loader, unwrap_dataset, unwrap_sampler

_END = object()


class InterleavedImageVideoLoader:
    """One epoch of PDNet's image/video alternation as a single iterable.

    Yields ``(phase, batch)`` with ``phase`` in ``('image', 'video')``: one
    image batch before every ``video_per_image`` (2) video batches, i.e.
    ``image, video, video, image, video, video, ...``. An epoch therefore
    has ``V + ceil(V / 2)`` iterations for V video batches, as the authors
    counted (docs/fidelity.md). Without an image loader it yields video
    batches only.

    The image stream is ONE iterator kept across epochs, as in the
    authors' training: epoch ``e`` continues where epoch ``e - 1`` stopped,
    and the image loader is restarted only when exhausted. Pass ``r`` over
    the image set is shuffled with ``sampler.set_epoch(r)``, so the stream
    is a deterministic function of the number of image batches consumed:
    when an epoch does not continue the previous one (resuming from a
    checkpoint), :meth:`set_epoch` repositions the stream at batch
    ``e * ceil(V / 2)`` without loading the skipped batches. An epoch can
    also start at any of its iterations (resuming inside it): the video
    and image batches before it are skipped without being loaded. With
    per-sample seeded loaders (:func:`seeded_loader`) the batches, and
    their augmentations, are then those of the uninterrupted epoch.

    ``len()``, ``dataset``, ``sampler`` and ``batch_size`` are what
    MMEngine's runner, hooks and schedulers read from
    ``runner.train_dataloader``: the epoch length in iterations of both
    phases, and the video loader's dataset, sampler and batch size (those
    configured: the seeding wrappers are left out).

    Args:
        video_loader (DataLoader): Paired-frame video batches.
        image_loader (DataLoader, optional): Image batches (samples with
            ``is_image=True``). Defaults to None (video-only).
        video_per_image (int): Video batches per image batch. Defaults 2.
    """

    def __init__(self, video_loader, image_loader=None,
                 video_per_image: int = 2):
        if video_per_image < 1:
            raise ValueError('video_per_image must be >= 1, got '
                             f'{video_per_image}')
        if len(video_loader) == 0:
            raise ValueError('the video dataloader is empty (no batches): '
                             'check the dataset root, split file and '
                             'batch size / drop_last')
        if image_loader is not None and len(image_loader) == 0:
            raise ValueError('the image dataloader is empty (no batches): '
                             'check its data roots and batch size')
        self.video_loader = video_loader
        self.image_loader = image_loader
        self.video_per_image = video_per_image
        self.epoch = 0
        self._images: Optional[Iterator] = None  # the live image stream
        self._consumed = 0  # image batches taken from the stream so far
        self._start = 0  # iteration the next pass over the epoch starts at

    @property
    def dataset(self):
        return unwrap_dataset(self.video_loader.dataset)

    @property
    def sampler(self):
        return unwrap_sampler(self.video_loader.sampler)

    @property
    def batch_size(self):
        return self.video_loader.batch_size

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Start epoch ``epoch`` at its iteration ``start``.

        Sets the video sampler's epoch (as MMEngine's
        ``DistSamplerSeedHook``), and continues the image stream, or
        repositions it when the epoch does not follow the batches consumed
        so far.

        Args:
            epoch (int): The epoch.
            start (int): The first iteration of the epoch to yield (> 0
                when resuming inside the epoch); the batches before it are
                skipped without being loaded. Defaults to 0.
        """
        if not 0 <= start <= len(self):
            raise ValueError(f'start must be in [0, {len(self)}], got '
                             f'{start}')
        self.epoch = epoch
        self._start = start
        sampler = self.video_loader.sampler
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(epoch)
        if self.image_loader is None:
            return
        begin = (epoch * self.num_image_batches +
                 self.phases()[:start].count('image'))
        if self._images is None or begin != self._consumed:
            self._images = self._image_stream(begin)
            self._consumed = begin

    def close(self) -> None:
        """Shut the loaders' workers down now.

        Persistent workers otherwise live until their iterator is garbage
        collected; collected together with the runner's reference cycles,
        the iterator's queues can be finalized first, and every worker
        then takes seconds to time out. The next epoch starts new ones.
        """
        if self._images is not None:
            self._images.close()
            self._images = None
        for loader in (self.video_loader, self.image_loader):
            iterator = getattr(loader, '_iterator', None)
            if iterator is not None and hasattr(iterator, '_shutdown_workers'):
                iterator._shutdown_workers()
                loader._iterator = None

    @property
    def image_batches_consumed(self) -> int:
        """Image batches taken from the stream since the first epoch."""
        return self._consumed

    @property
    def num_image_batches(self) -> int:
        """Image batches per epoch: ``ceil(V / video_per_image)``."""
        if self.image_loader is None:
            return 0
        return math.ceil(len(self.video_loader) / self.video_per_image)

    def __len__(self) -> int:
        return len(self.video_loader) + self.num_image_batches

    def phases(self) -> List[str]:
        """The phase of every iteration of one epoch, in order."""
        out = []
        for v in range(len(self.video_loader)):
            if self.image_loader is not None and v % self.video_per_image == 0:
                out.append('image')
            out.append('video')
        return out

    def _image_stream(self, start: int) -> Iterator:
        """Image batches from global image batch ``start`` on, forever."""
        per_pass = len(self.image_loader)
        image_pass, skip = divmod(start, per_pass)
        sampler = getattr(self.image_loader, 'sampler', None)
        while True:
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(image_pass)
            if skip:
                yield from self._skipped(self.image_loader, skip)
                skip = 0
            else:
                yield from self.image_loader
            image_pass += 1

    @staticmethod
    def _skipped(loader, skip: int) -> Iterable:
        """The current pass of ``loader`` without its first ``skip``
        batches: the same loader settings over the sampler's remaining
        indices, so the skipped batches are never loaded."""
        if not isinstance(loader, DataLoader) or loader.batch_size is None:
            return itertools.islice(iter(loader), skip, None)
        indices = list(iter(loader.sampler))[skip * loader.batch_size:]
        # one pass only: no persistent workers
        return clone_loader(loader, sampler=indices, persistent_workers=False)

    def __iter__(self) -> Iterator[Tuple[str, dict]]:
        if self.image_loader is not None and self._images is None:
            self.set_epoch(self.epoch, self._start)
        start, self._start = self._start, 0
        phases = self.phases()
        skip = phases[:start].count('video')
        videos = iter(self._skipped(self.video_loader, skip)
                      if skip else self.video_loader)
        for phase in phases[start:]:
            if phase == 'image':
                self._consumed += 1
                yield 'image', next(self._images)
                continue
            batch = next(videos, _END)
            if batch is _END:  # fewer batches than len() says
                return
            yield 'video', batch
