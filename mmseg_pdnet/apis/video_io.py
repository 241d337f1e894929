# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Video output for inference, and the one import point of the video I/O.

:class:`AtomicVideoWriter` writes to a temporary name and moves it into
place only on success, so a failed run never leaves a half-written file
that looks complete. Videos go through PyAV (:mod:`.video_encode`): H.264
MP4s by default, VP9 WebMs, and with ``alpha=True`` ProRes 4444 ``.mov``
or VP9 ``yuva420p`` ``.webm``; ``audio_from`` carries an input's audio
along (:mod:`.audio`). Frames of odd size are padded to even size with a
:class:`VideoIOWarning` stating both sizes.

The sources (:func:`open_source`, PyAV decoding), the background threads
(:class:`PrefetchIterator`, :class:`BackgroundWriter`) and the errors live
in their own modules and are importable from here.
"""
import os
import os.path as osp
import shutil
import warnings
from typing import Optional, Tuple

import cv2
import numpy as np

from ..utils.file_types import (ALPHA_VIDEO_SUFFIXES, IMAGE_SUFFIXES,
                                VIDEO_SUFFIXES)
from .audio import AudioCopier, has_audio
from .threaded_io import (STALL_TIMEOUT, BackgroundWriter, FrameReaderError,
                          PrefetchIterator, enable_fault_handler)
from .video_decode import (FrameSource, VideoInfo, as_bgr_frame,
                           limit_frames, open_source, probe_video)
from .video_encode import (ALPHA_ENCODERS, H264, MPEG4, VP9,
                           add_video_stream, encoder_unavailable,
                           h264_unavailable)
from .video_errors import (IncompleteVideoError, VideoIONote, VideoIOWarning,
                           import_av)

__all__ = [
    'ALPHA_VIDEO_SUFFIXES', 'AtomicVideoWriter', 'BackgroundWriter', 'CODECS',
    'FrameReaderError', 'FrameSource', 'IMAGE_SUFFIXES',
    'IncompleteVideoError', 'PrefetchIterator', 'STALL_TIMEOUT',
    'VIDEO_SUFFIXES', 'VideoIONote', 'VideoIOWarning', 'VideoInfo',
    'as_bgr_frame', 'check_output_path', 'enable_fault_handler',
    'h264_unavailable', 'has_audio', 'limit_frames', 'open_source',
    'probe_video'
]

#: the ``codec`` choices of :class:`AtomicVideoWriter`
CODECS = ('auto', 'h264', 'mp4v')


def check_output_path(out: str, png: bool = False,
                      alpha: bool = False) -> None:
    """Check that ``out`` suits the output kind, before any work is done.

    Args:
        out (str): The output path.
        png (bool): A PNG sequence (a folder) instead of a video file.
        alpha (bool): The video has an alpha channel.

    Raises:
        ValueError: a PNG sequence given a file name (``x.mp4`` would
            become a folder of that name), a video without a video suffix,
            or a video with alpha in a container that cannot carry it.
    """
    ext = osp.splitext(osp.normpath(out))[1].lower()
    if png and (ext in VIDEO_SUFFIXES + IMAGE_SUFFIXES or osp.isfile(out)):
        raise ValueError(f'{out}: a PNG sequence is written to a folder; '
                         'give a folder path (e.g. out_frames), or drop '
                         '--png to write a video')
    if not png and ext not in VIDEO_SUFFIXES:
        raise ValueError(f'{out}: video output needs a .mp4 name (or .mov, '
                         '.mkv, .avi, .webm; or --png for a PNG sequence)')
    if alpha and not png and ext not in ALPHA_VIDEO_SUFFIXES:
        raise ValueError(
            f'{out}: a {ext} video cannot carry an alpha channel; name it '
            '.mov (ProRes 4444) or .webm (VP9), or write a PNG sequence '
            '(RGBA PNGs)')


def _choose_encoder(out: str, codec: str, alpha: bool):
    """The encoder for ``out`` (see :class:`AtomicVideoWriter`)."""
    ext = osp.splitext(osp.normpath(out))[1].lower()
    if alpha or ext == '.webm':
        if codec != 'auto':
            what = 'a video with alpha is ProRes 4444 (.mov) or VP9 ' \
                '(.webm)' if alpha else 'a .webm video is VP9'
            raise ValueError(f"{out}: {what}, not {codec}; use codec 'auto'")
        enc = ALPHA_ENCODERS[ext] if alpha else VP9
        reason = encoder_unavailable(enc.encoder)
        if reason is not None:
            raise ValueError(f'{out}: cannot write {enc.codec} '
                             f'({enc.pix_fmt}): {reason}')
        return enc
    if codec == 'mp4v':
        return MPEG4
    reason = h264_unavailable()
    if reason is not None and codec == 'h264':
        raise ValueError(f'{out}: cannot write H.264: {reason}')
    if reason is not None:
        warnings.warn(f'{out}: writing MPEG-4 Part 2 (mp4v), which most '
                      f'browsers do not play: for H.264, {reason}',
                      VideoIONote)
        return MPEG4
    return H264


class AtomicVideoWriter:
    """Video or PNG-sequence writer whose output appears only on success.

    Frames go to ``.<name>.partial...`` beside ``out`` and :meth:`close`
    moves them to ``out``; :meth:`abort` deletes the partial output.

    Videos are written with PyAV. ``.mp4`` / ``.mov`` / ``.mkv`` / ``.avi``
    are H.264 (``yuv420p``, CRF 18, ``+faststart``: plays in browsers), or
    MPEG-4 Part 2 (``mp4v``) with one :class:`VideoIONote` where this
    FFmpeg has no libx264; ``.webm`` is VP9. With ``alpha=True``, ``.mov``
    is ProRes 4444 (``yuva444p10le``: every ProRes decoder reads the
    alpha) and ``.webm`` VP9 ``yuva420p`` (the alpha is a second layer
    that browsers and libvpx read, FFmpeg's own ``vp9`` decoder does
    not); other containers cannot carry alpha. Encoders need even frame
    sizes, so odd-sized frames are padded by repeating their last row /
    column, with one :class:`VideoIOWarning` that states both sizes; no
    pixel is lost. PNG sequences keep the exact size (RGBA PNGs with
    alpha). Every frame must have the size of the first.

    Args:
        out (str): Video file (see above), or a folder for a PNG sequence
            (``png=True``).
        fps (float): Frame rate of the video. Defaults to 25.
        png (bool): Write ``out/00000.png, ...`` instead of a video.
            Defaults to False.
        codec (str): ``'auto'`` (H.264 when this FFmpeg can, else ``mp4v``
            with a note; VP9 / ProRes for ``.webm`` and alpha), ``'h264'``
            (an error without libx264) or ``'mp4v'``. Defaults to
            ``'auto'``.
        alpha (bool): :meth:`write` takes ``(H, W, 4)`` BGRA frames and the
            output keeps the alpha channel. Defaults to False.
        audio_from (str, optional): An input video whose audio streams
            the output carries, remuxed or transcoded (see
            :class:`~mmseg_pdnet.apis.audio.AudioCopier`) and cut at the
            output's duration. A file without audio adds nothing; a PNG
            sequence has no audio. Defaults to None.
    """

    def __init__(self, out: str, fps: float = 25.0, png: bool = False,
                 codec: str = 'auto', alpha: bool = False,
                 audio_from: Optional[str] = None):
        self.out, self.fps, self.png, self.alpha = out, fps, png, alpha
        stem, ext = osp.splitext(osp.basename(osp.normpath(out)))
        if codec not in CODECS:
            raise ValueError(f'codec must be one of {CODECS}, got {codec!r}')
        check_output_path(out, png, alpha)
        self._encoder = None if png else _choose_encoder(out, codec, alpha)
        self.codec = None if png else self._encoder.codec
        self.audio_from = None if png or not has_audio(audio_from) \
            else str(audio_from)
        parent = osp.dirname(osp.abspath(out))
        os.makedirs(parent, exist_ok=True)
        self.tmp = osp.join(parent, f'.{stem}.partial{"" if png else ext}')
        self._container = self._stream = self._audio = None
        self._rate = None  # the stream's exact frame rate (a Fraction)
        self.count = 0
        self.size: Optional[Tuple[int, int]] = None  # (H, W) of the input
        if png:
            shutil.rmtree(self.tmp, ignore_errors=True)
            os.makedirs(self.tmp)

    def write(self, frame: np.ndarray) -> None:
        """Write one ``(H, W, 3)`` BGR (``(H, W, 4)`` BGRA with ``alpha``)
        uint8 frame.

        Raises:
            ValueError: when its size differs from the first frame's
                (a video writer would drop it without a word), or its
                shape or type is not the one expected.
        """
        channels = 4 if self.alpha else 3
        if frame.dtype != np.uint8 or frame.shape[2:] != (channels, ):
            raise ValueError(
                f'{self.out}: frame {self.count} is {frame.dtype} of shape '
                f'{frame.shape}; expected uint8 (H, W, {channels}) '
                f'{"BGRA" if self.alpha else "BGR"}')
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (h, w)
        elif (h, w) != self.size:
            raise ValueError(f'{self.out}: frame {self.count} has size '
                             f'{(h, w)}, the first frame {self.size}')
        if self.png:
            path = osp.join(self.tmp, f'{self.count:05d}.png')
            if not cv2.imwrite(path, frame):
                raise OSError(f'{path}: could not write frame')
        else:
            if self._container is None:
                self._open_video(h, w)
            if (h % 2) or (w % 2):
                frame = cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2,
                                           cv2.BORDER_REPLICATE)
            self._encode(frame)
            if self._audio is not None:  # interleaved: up to this frame
                self._audio.mux_until(float((self.count + 1) / self._rate))
        self.count += 1

    def _encode(self, frame: Optional[np.ndarray]) -> None:
        """Encode one frame (None flushes the encoder)."""
        av = import_av(self.out)
        if frame is not None:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame),
                format='bgra' if self.alpha else 'bgr24')
            frame.pts, frame.time_base = self.count, 1 / self._rate
        try:
            self._container.mux(self._stream.encode(frame))
        except av.FFmpegError as e:  # one line naming the output
            raise OSError(f'{self.out}: {self.codec} encoding failed ({e})')

    def _open_video(self, h: int, w: int) -> None:
        even_h, even_w = h + h % 2, w + w % 2
        ext = osp.splitext(self.tmp)[1].lower()
        if (even_h, even_w) != (h, w):
            warnings.warn(
                f'{self.out}: frames are {w}x{h} (WxH) but the '
                f'{ext[1:].upper()} encoder needs even sizes: writing '
                f'{even_w}x{even_h}, the last column/row repeated (a PNG '
                'sequence keeps the exact size)', VideoIOWarning)
        av = import_av(self.out)
        # +faststart puts the index first: browsers play while loading
        options = {'movflags': '+faststart'} \
            if ext in ('.mp4', '.mov') else {}
        try:
            self._container = av.open(self.tmp, mode='w', options=options)
            self._stream, self._rate = add_video_stream(
                self._container, self._encoder, self.fps, even_h, even_w)
        except av.FFmpegError as e:  # PyAV's errors vary
            raise OSError(f'{self.out}: could not open a {self.codec} '
                          f'writer ({e})')
        if self.audio_from is None:
            return
        try:  # before the first packet: the streams are fixed then
            self._audio = AudioCopier(self.audio_from, self._container,
                                      self.out)
        except av.FFmpegError as e:
            raise OSError(f'{self.out}: could not carry the audio of '
                          f'{self.audio_from} ({e})')

    def _release(self, flush: bool = True) -> None:
        """Close the encoder; ``flush`` writes the frames an encoder still
        holds and the rest of the audio (not needed when the output is
        deleted)."""
        if self._container is None:
            return
        try:
            if flush:
                self._encode(None)
                if self._audio is not None:
                    self._audio.finish(float(self.count / self._rate))
        finally:
            if self._audio is not None:
                self._audio.close()
            try:
                self._container.close()
            except Exception:  # noqa: B902
                if flush:  # when aborting, the file is deleted anyway
                    raise
            self._container = self._audio = None

    def close(self) -> str:
        """Finish and move the output into place; returns its path."""
        try:
            self._release()
        except BaseException:
            self.abort()
            raise
        if self.count == 0:
            self.abort()
            raise ValueError(f'{self.out}: no frame was written')
        if osp.isdir(self.out) and self.png:
            shutil.rmtree(self.out)
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        """Delete the partial output."""
        self._release(flush=False)
        if osp.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif osp.exists(self.tmp):
            os.remove(self.tmp)
