# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""A video as the new background of a portrait video."""
from typing import Iterator, Optional, Tuple

import numpy as np

from .compositing import fit_background
from .video_io import PrefetchIterator, open_source

#: background frames decoded ahead (bounded: memory)
QUEUE_SIZE = 4


class BackgroundClip:
    """A background video, streamed: looped when shorter than the input,
    cut when longer, each frame scaled to cover the input frame.

    The clip is decoded frame by frame in a background thread, a few
    frames ahead (never loaded whole); at its end it is opened again from
    the start. Any decoding error names the clip as ``--background PATH:
    ...``, and so does a clip that decodes fewer frames than it declares
    (a background is not trimmed silently).

    Args:
        path (str): The video file.

    Raises:
        ValueError: the clip cannot be opened or has no frame (checked on
            construction: before any work is done).
    """

    def __init__(self, path: str):
        self.path = str(path)
        frames = self._open()
        try:
            first = next(frames, None)
        except (OSError, ValueError) as e:
            raise ValueError(self._message(e)) from None
        finally:
            close = getattr(frames, 'close', None)
            if close is not None:
                close()
        if first is None:
            raise ValueError(f'--background {self.path}: the video has no '
                             'frame')

    def _message(self, error: BaseException) -> str:
        text = ' '.join(str(error).split())
        # the reader's messages start with the path already
        if text.startswith(self.path):
            text = text[len(self.path):].lstrip(': ')
        return f'--background {self.path}: {text}'

    def _open(self) -> Iterator[np.ndarray]:
        try:
            frames, _, _ = open_source(self.path)
        except (OSError, ValueError) as e:
            raise ValueError(self._message(e)) from None
        return iter(frames)

    def _looped(self, size: Tuple[int, int]) -> Iterator[np.ndarray]:
        while True:
            count = 0
            for frame in self._open():
                count += 1
                yield fit_background(frame, size)
            if count == 0:  # would loop forever
                raise ValueError(f'--background {self.path}: the video has '
                                 'no frame')

    def stream(self, size: Tuple[int, int]) -> 'BackgroundStream':
        """The background frames for one input, from the clip's start.

        Args:
            size (tuple): The input's frame size ``(H, W)``.

        Returns:
            BackgroundStream: Call :meth:`BackgroundStream.next` once per
            frame; close it when done.
        """
        return BackgroundStream(self, size)


class BackgroundStream:
    """The background frames of one input (see
    :meth:`BackgroundClip.stream`): decoded and fitted in a thread."""

    def __init__(self, clip: BackgroundClip, size: Tuple[int, int]):
        self.clip = clip
        self._reader: Optional[PrefetchIterator] = PrefetchIterator(
            clip._looped(size), QUEUE_SIZE, name='background-reader')

    def next(self) -> np.ndarray:
        """The next ``(H, W, 3)`` uint8 background frame."""
        try:
            return next(self._reader)
        except (OSError, ValueError) as e:
            text = ' '.join(str(e).split())
            raise ValueError(text if text.startswith('--background ') else
                             self.clip._message(e)) from None

    def close(self) -> None:
        """Stop the decoding thread (the clip is cut here)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
