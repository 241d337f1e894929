# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import math
from typing import Iterator, List, Tuple


class InterleavedImageVideoLoader:
    """One epoch of PDNet's image/video alternation as a single iterable.

    Yields ``(phase, batch)`` with ``phase`` in ``('image', 'video')``: one
    image batch before every ``video_per_image`` (2) video batches, i.e.
    ``image, video, video, image, video, video, ...``. An epoch therefore
    has ``V + ceil(V / 2)`` iterations for V video batches, as the authors
    counted (REFERENCE.md section 3). Without an image loader it yields
    video batches only.

    The image stream of epoch ``e`` is deterministic: the image sampler is
    re-seeded with ``set_epoch`` (``e * rounds + r`` for the r-th pass over
    the image loader within the epoch), and the first ``ceil(V / 2)``
    batches are used. A large image set thus contributes a fresh random
    subset every epoch, a small one is cycled, and resuming in the middle
    of an epoch only has to replay that epoch.

    ``len()``, ``dataset``, ``sampler`` and ``batch_size`` are what
    MMEngine's runner, hooks and schedulers read from
    ``runner.train_dataloader``: the epoch length in iterations of both
    phases, and the video loader's dataset, sampler and batch size.

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

    @property
    def dataset(self):
        return self.video_loader.dataset

    @property
    def sampler(self):
        return self.video_loader.sampler

    @property
    def batch_size(self):
        return self.video_loader.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Select the image stream of ``epoch`` (the video sampler's epoch
        is set by MMEngine's ``DistSamplerSeedHook``)."""
        self.epoch = epoch

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

    def _image_stream(self) -> Iterator:
        rounds = math.ceil(self.num_image_batches / len(self.image_loader))
        sampler = getattr(self.image_loader, 'sampler', None)
        for r in range(rounds):
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self.epoch * rounds + r)
            yield from self.image_loader

    def __iter__(self) -> Iterator[Tuple[str, dict]]:
        images = (self._image_stream()
                  if self.image_loader is not None else None)
        for v, batch in enumerate(self.video_loader):
            if images is not None and v % self.video_per_image == 0:
                yield 'image', next(images)
            yield 'video', batch
