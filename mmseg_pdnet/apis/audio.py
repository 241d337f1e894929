# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Carry the audio of an input video into an output video (PyAV).

Each audio stream of the input is remuxed (its packets copied, no quality
lost) when the output container can hold its codec, and transcoded
otherwise: to Opus for ``.webm``, MP3 for ``.avi``, AAC for the others
(``.mp4``, ``.mov``, ``.mkv``). The audio is cut at the output video's end
(a run over the first frames only, e.g. ``--max-frames``), so the two
durations match: exactly, up to the codec's frame padding, when
transcoding; to within half an audio packet (~10-20 ms) when remuxing,
where packets cannot be split. Audio packets are written as the video
advances, so the streams are interleaved as players expect.
"""
import os
import os.path as osp
import warnings
from fractions import Fraction
from typing import Dict, Optional, Union

from .video_errors import VideoIOWarning, import_av

#: audio encoder by output container, when its codec cannot be copied
TRANSCODE_CODECS = {'.webm': 'libopus', '.avi': 'libmp3lame'}
DEFAULT_TRANSCODE_CODEC = 'aac'


def has_audio(path: Union[str, os.PathLike, int, None]) -> bool:
    """Whether ``path`` is a media file that holds an audio stream.

    A folder, a camera index, a missing or unreadable file: False.
    """
    if not isinstance(path, (str, os.PathLike)) or not osp.isfile(path):
        return False
    av = import_av(str(path))
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, UnicodeDecodeError):
        return False


def _seconds(packet_or_frame) -> Optional[float]:
    """Start time of a packet or frame in seconds (None when unknown)."""
    ts = packet_or_frame.pts
    if ts is None:
        ts = getattr(packet_or_frame, 'dts', None)
    if ts is None or packet_or_frame.time_base is None:
        return None
    return float(ts * packet_or_frame.time_base)


class AudioCopier:
    """Copy the audio streams of ``src`` into the open ``output``.

    Create it after the output's video stream and before the first packet
    is written (a container's streams are fixed by then); call
    :meth:`mux_until` as the video advances and :meth:`finish` with the
    video's duration. Times are relative to the input's first video frame,
    which is frame 0 of the output.

    Args:
        src (str): The input video whose audio is copied.
        output (av.container.OutputContainer): The output, open for
            writing.
        out_path (str): The output's final name (its suffix chooses the
            transcoding codec; the temporary name may differ).
    """

    def __init__(self, src: str, output, out_path: str):
        av = import_av(src)
        self.src, self._output = src, output
        self._input = av.open(src)
        try:
            video = self._input.streams.video
            start = video[0].start_time if video else None
            self._offset = float(start * video[0].time_base) \
                if start is not None else 0.0
            ext = osp.splitext(out_path)[1].lower()
            self._routes: Dict[int, tuple] = {}
            for stream in self._input.streams.audio:
                route = self._route(av, stream, ext)
                if route is not None:
                    self._routes[stream.index] = route
            self._packets = self._input.demux(
                *[s for s in self._input.streams.audio
                  if s.index in self._routes])
        except BaseException:
            self._input.close()
            raise
        self._pending = None
        self._done = not self._routes

    def _route(self, av, stream, ext: str):
        """``(output stream, transcode?)`` for one input audio stream."""
        if stream.codec_context is None:  # a codec this FFmpeg lacks
            warnings.warn(f'{self.src}: audio stream {stream.index} is '
                          'dropped: its codec is unknown to this FFmpeg',
                          VideoIOWarning)
            return None
        name = stream.codec_context.codec.canonical_name
        if name in self._output.supported_codecs:
            return self._output.add_stream_from_template(stream), False
        codec = TRANSCODE_CODECS.get(ext, DEFAULT_TRANSCODE_CODEC)
        try:
            encoder = av.codec.Codec(codec, 'w')
        except Exception:  # noqa: B902  PyAV's errors differ by version
            warnings.warn(f'{self.src}: audio stream {stream.index} '
                          f'({name}) is dropped: this FFmpeg has no {codec} '
                          'encoder to transcode it', VideoIOWarning)
            return None
        rates = encoder.audio_rates
        rate = stream.rate if not rates or stream.rate in rates else 48000
        out = self._output.add_stream(codec, rate=rate)
        out.layout = stream.layout if stream.layout.nb_channels <= 2 \
            else 'stereo'  # Opus / MP3 carry at most two channels
        return out, True

    def _next_packet(self):
        """The next audio packet with a timestamp (None at the end)."""
        if self._pending is None:
            for packet in self._packets:
                if packet.size and _seconds(packet) is not None:
                    self._pending = packet
                    break
        return self._pending

    def mux_until(self, t: float, final: bool = False) -> None:
        """Write the audio up to ``t`` seconds of video.

        Args:
            t (float): Seconds of video written so far.
            final (bool): ``t`` is the end: remuxed packets whose middle
                lies before it are kept, transcoded samples cut at it.
                Otherwise only packets that end by ``t`` are written.
        """
        while not self._done:
            packet = self._next_packet()
            if packet is None:
                self._done = True
                return
            start = _seconds(packet) - self._offset
            length = float((packet.duration or 0) * packet.time_base)
            if not final and start + length > t:
                return
            self._pending = None
            if start >= t:
                continue  # past the video's end (final only): dropped
            out, transcode = self._routes[packet.stream.index]
            if not transcode:
                if final and start + length / 2 > t:
                    continue
                shift = round(self._offset / packet.time_base)
                packet.pts = packet.pts - shift if packet.pts is not None \
                    else None
                packet.dts = packet.dts - shift if packet.dts is not None \
                    else None
                packet.stream = out
                self._output.mux(packet)
                continue
            for frame in packet.decode():
                self._encode(out, frame, t)

    def _encode(self, out, frame, end: float) -> None:
        """Encode ``frame`` shifted to the output's time, cut at ``end``
        seconds and at 0 (audio before the first video frame)."""
        av = import_av(self.src)
        start = _seconds(frame) - self._offset
        rate = frame.sample_rate
        first = max(0, round(-start * rate))
        last = min(frame.samples, round((end - start) * rate))
        if last <= first:
            return
        if (first, last) != (0, frame.samples):
            data = frame.to_ndarray()
            if frame.format.is_planar:
                data = data[:, first:last]
            else:  # packed: (1, samples * channels)
                channels = frame.layout.nb_channels
                data = data[:, first * channels:last * channels]
            cut = av.AudioFrame.from_ndarray(
                data.copy(), format=frame.format.name,
                layout=frame.layout.name)
            cut.sample_rate = rate
            frame = cut
        # in the output's time: a stream that starts after the video
        # keeps its delay
        frame.pts = round(start * rate) + first
        frame.time_base = Fraction(1, rate)
        self._output.mux(out.encode(frame))

    def finish(self, end: float) -> None:
        """Write the audio up to ``end`` seconds, flush the encoders and
        close the input."""
        try:
            self.mux_until(end, final=True)
            for out, transcode in self._routes.values():
                if transcode:
                    self._output.mux(out.encode(None))
        finally:
            self.close()

    def close(self) -> None:
        """Close the input (also when the output is aborted)."""
        if self._input is not None:
            self._done = True
            self._input.close()
            self._input = None
