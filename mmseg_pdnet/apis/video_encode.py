# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The video encoders the writer uses, and whether this FFmpeg has them.

All of them come with PyAV's wheels (which bundle FFmpeg): H.264
(``libx264``: browser-playable ``yuv420p``), MPEG-4 Part 2 (``mpeg4``, the
fallback), VP9 (``libvpx-vp9``, the only video codec a ``.webm`` takes
here) and, for videos with an alpha channel, ProRes 4444 (``prores_ks``,
``yuva444p10le``) in ``.mov`` and VP9 with ``yuva420p`` in ``.webm``.
PyAV 18.1's wheel has all five encoders; a build without one gets one
error naming it (see :func:`encoder_unavailable`).

WebM alpha is stored as a second VP9 layer that FFmpeg's own ``vp9``
decoder ignores: players and editors that read it (browsers, ``libvpx``)
see the alpha, others an opaque video. ProRes 4444 alpha is read by every
ProRes decoder.
"""
from fractions import Fraction
from typing import NamedTuple, Optional


class Encoder(NamedTuple):
    """One way to encode a video stream.

    Attributes:
        codec (str): The short name the writer reports (``'h264'``, ...).
        encoder (str): FFmpeg's encoder name.
        pix_fmt (str): Pixel format of the stream.
        options (dict): Encoder options.
    """
    codec: str
    encoder: str
    pix_fmt: str
    options: dict


#: CRF 18 / ``-q:v 3``: visually lossless for the masks and composites
H264 = Encoder('h264', 'libx264', 'yuv420p',  # the one browsers decode
               {'crf': '18', 'preset': 'medium'})
MPEG4 = Encoder('mp4v', 'mpeg4', 'yuv420p', {})
# CRF 18 at constant quality (b 0); row-mt and cpu-used 4 encode faster
# than libvpx's default (cpu-used 1) at about the same quality
VP9 = Encoder('vp9', 'libvpx-vp9', 'yuv420p',
              {'crf': '18', 'b': '0', 'row-mt': '1', 'cpu-used': '4'})
#: encoders of videos with alpha, by container (the keys are
#: :data:`~mmseg_pdnet.utils.file_types.ALPHA_VIDEO_SUFFIXES`)
ALPHA_ENCODERS = {
    # 'apl0': the vendor Apple's editors expect of ProRes
    '.mov': Encoder('prores', 'prores_ks', 'yuva444p10le',
                    {'profile': '4444', 'vendor': 'apl0'}),
    '.webm': VP9._replace(pix_fmt='yuva420p'),
}


def encoder_unavailable(encoder: str) -> Optional[str]:
    """Why ``encoder`` cannot be used here, or None when it can."""
    try:
        import av
    except ImportError:
        return 'PyAV is not installed (pip install av)'
    try:
        av.codec.Codec(encoder, 'w')
    except Exception:  # noqa: B902  PyAV's errors differ between versions
        return f'PyAV {av.__version__} has no {encoder} encoder'
    return None


def h264_unavailable() -> Optional[str]:
    """Why H.264 cannot be written here, or None when it can.

    H.264 is written with PyAV (``pip install av``; its wheels bundle
    FFmpeg with libx264). OpenCV's pip wheels have no H.264 encoder.
    """
    return encoder_unavailable(H264.encoder)


def add_video_stream(container, enc: Encoder, fps: float, h: int, w: int):
    """Add a video stream encoded by ``enc`` to an output ``container``.

    Returns:
        tuple: The stream and its exact frame rate (a Fraction: 29.97 is
        30000/1001).
    """
    rate = Fraction(fps).limit_denominator(1001)
    stream = container.add_stream(enc.encoder, rate=rate)
    stream.width, stream.height = w, h
    stream.pix_fmt = enc.pix_fmt
    stream.options = dict(enc.options)
    if enc is MPEG4:  # fixed quantiser 3 (``-q:v 3``), not a low bitrate
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 3 * 118  # FF_QP2LAMBDA
    return stream, rate
