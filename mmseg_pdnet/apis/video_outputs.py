# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The outputs of one input of ``tools/infer_video.py``: the rendered
video (or PNG sequence), the part maps, the contact sheet and the frame
the preview window shows."""
import os.path as osp
from typing import List, Optional

import numpy as np

from .background_clip import BackgroundClip
from .compositing import (ContactSheetSampler, colour_parts, contact_sheet,
                          fit_background, overlay, render)
from .preview import PreviewWindow, preview_frame
from .video_io import AtomicVideoWriter


class PartialOutputError(OSError):
    """Some outputs were written, one (or more) could not be.

    Args:
        message (str): Which output failed and why.
        written (list[str]): The outputs that are finished (kept).
    """

    def __init__(self, message: str, written: List[str]):
        super().__init__(message)
        self.written = written


def parts_path(out: str, png: bool) -> str:
    """``<out>_parts.mp4`` (``<out>_parts`` with ``png``)."""
    stem, ext = osp.splitext(osp.normpath(out))
    return f'{stem}_parts{"" if png else ext}'


class OutputWriter:
    """Render and write the outputs of each frame (in the writer thread).

    Args:
        output_type (str): ``--output-type`` (see :func:`render`); ``rgba``
            writes a video with alpha.
        out (str, optional): The output video or PNG folder; None writes
            none (a preview only).
        fps (float): Frame rate of the videos.
        png (bool): PNG sequences instead of videos. Defaults to False.
        codec (str): Video codec of :class:`AtomicVideoWriter`.
        parts (str, optional): Where to write the coloured part maps.
        sheet (str, optional): Where to write the contact sheet.
        background: Output of :func:`parse_background`, or None; a
            :class:`BackgroundClip` is streamed frame by frame.
        audio_from (str, optional): The video whose audio the output gets.
        keep_latest (bool): Keep the last rendered frame in
            :attr:`latest` (for the preview window).
    """

    def __init__(self, output_type: str, out: Optional[str], fps: float,
                 png: bool = False, codec: str = 'auto',
                 parts: Optional[str] = None, sheet: Optional[str] = None,
                 background=None, audio_from: Optional[str] = None,
                 keep_latest: bool = False):
        self.output_type, self.background = output_type, background
        self.keep_latest = keep_latest
        self.latest: Optional[np.ndarray] = None
        self._background_stream = None
        alpha = output_type == 'rgba'
        self.writer = self.parts_writer = None
        if out is not None:
            self.writer = AtomicVideoWriter(
                out, fps, png=png, codec='auto' if alpha else codec,
                alpha=alpha, audio_from=audio_from)
        if parts is not None:
            try:
                self.parts_writer = AtomicVideoWriter(parts, fps, png=png,
                                                      codec=codec)
            except BaseException:
                if self.writer is not None:
                    self.writer.abort()  # its partial folder (png) too
                raise
        self.sheet_path = sheet
        self.sheet = ContactSheetSampler() if sheet else None

    def _background_of(self, frame: np.ndarray):
        if isinstance(self.background, BackgroundClip):
            if self._background_stream is None:
                self._background_stream = self.background.stream(
                    frame.shape[:2])
            return self._background_stream.next()
        if isinstance(self.background, np.ndarray) and \
                self.background.shape[:2] != frame.shape[:2]:
            # fitted once, not on every frame
            self.background = fit_background(self.background,
                                             frame.shape[:2])
        return self.background

    def __call__(self, res) -> None:
        """Render and write one :class:`FrameResult`."""
        image = render(self.output_type, res.frame, res.mask, res.prob,
                       self._background_of(res.frame))
        if self.writer is not None:
            self.writer.write(image)
        if self.keep_latest:
            self.latest = image
        want_sheet = self.sheet is not None and self.sheet.wants(res.index)
        parts = None
        if res.parts is not None and (self.parts_writer or want_sheet):
            parts = colour_parts(res.parts, res.frame.shape[:2])
        if self.parts_writer is not None:
            self.parts_writer.write(parts)
        if want_sheet:
            row = [res.frame, overlay(res.frame, res.mask)]
            self.sheet.add(res.index, row + ([parts] if parts is not None
                                             else []))

    def _stop_background(self) -> None:
        if self._background_stream is not None:
            self._background_stream.close()
            self._background_stream = None

    def close(self) -> List[str]:
        """Finish every output; returns their paths.

        Each output is finished on its own: one that fails does not take
        the others with it.

        Raises:
            PartialOutputError: an output failed (named in the message);
                ``written`` holds the finished ones.
        """
        self._stop_background()
        written, failed = [], []
        for flag, w in (('--out', self.writer),
                        ('--save-parts', self.parts_writer)):
            if w is None:
                continue
            try:
                written.append(w.close())
            except Exception as e:  # noqa: B902  reported below
                w.abort()
                failed.append(f'{flag} {w.out}: could not be finished '
                              f'({" ".join(str(e).split())})')
        if self.sheet is not None:
            indices, rows = self.sheet.rows()
            try:
                written.append(contact_sheet(
                    rows, self.sheet_path,
                    labels=[f'frame {i}' for i in indices],
                    titles=['frame', 'overlay', 'parts']))
            except Exception as e:  # noqa: B902  reported below
                failed.append(f'--contact-sheet: '
                              f'{" ".join(str(e).split())}')
        if failed:
            raise PartialOutputError('; '.join(failed), written)
        return written

    def abort(self) -> None:
        """Delete the partial outputs."""
        self._stop_background()
        for w in (self.writer, self.parts_writer):
            if w is not None:
                w.abort()


class LatestFramePreview:
    """Show the last frame the writer thread rendered, when it is new.

    The main thread shows it (GUI toolkits own their windows there); it
    may skip frames when rendering falls behind, and never waits for one.

    Args:
        window (PreviewWindow, optional): None: no preview.
        outputs (OutputWriter): Keeps the last rendered frame
            (``keep_latest=True``).
        rate (Callable[[], float]): The frames/s to draw.
        name (str, optional): Drawn too (many-input runs).
    """

    def __init__(self, window: Optional[PreviewWindow],
                 outputs: OutputWriter, rate, name: Optional[str] = None):
        self.window, self.outputs = window, outputs
        self.rate, self.name = rate, name
        self._shown = None

    def update(self) -> bool:
        """Show the newest frame; returns False when the user asked to
        stop (q, Esc, the window closed)."""
        latest = self.outputs.latest
        if self.window is None or latest is None or latest is self._shown:
            return True
        self._shown = latest
        return self.window.show(preview_frame(latest, self.rate(),
                                              self.name))
