# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Whether the machine's driver exposes NVENC to PyAV's FFmpeg."""
import io

import numpy as np

CODECS = ('h264_nvenc', 'hevc_nvenc')


def probe_nvenc(codec: str = 'h264_nvenc', frames: int = 8) -> dict:
    """Encode a few frames with an NVENC encoder through PyAV.

    That PyAV's FFmpeg lists the encoder says nothing about the GPU: it
    opens only when the driver's NVENC library loads and the GPU has the
    encoder, so the probe encodes.

    Args:
        codec (str): The FFmpeg encoder.
        frames (int): Frames to encode (256x256).

    Returns:
        dict: ``codec``, ``listed`` (PyAV's FFmpeg has it), ``encoded``
        (frames that came out as packets' worth: > 0 means it works) and
        ``error`` (why not, else None).
    """
    result = dict(codec=codec, listed=False, encoded=0, error=None)
    try:
        import av
    except ImportError as e:
        result['error'] = f'PyAV not installed ({e})'
        return result
    try:
        av.codec.Codec(codec, 'w')
        result['listed'] = True
    except Exception as e:  # noqa: B902  PyAV's errors differ by version
        result['error'] = f'{type(e).__name__}: {e}'
        return result
    buffer = io.BytesIO()
    try:
        with av.open(buffer, mode='w', format='mp4') as container:
            stream = container.add_stream(codec, rate=25)
            stream.width = stream.height = 256
            stream.pix_fmt = 'yuv420p'
            packets = 0
            for i in range(frames):
                image = np.full((256, 256, 3), 16 * i, np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format='rgb24')
                for packet in stream.encode(frame):
                    container.mux(packet)
                    packets += 1
            for packet in stream.encode(None):
                container.mux(packet)
                packets += 1
        result['encoded'] = packets
    except Exception as e:  # noqa: B902  the driver's error, as FFmpeg says
        result['error'] = f'{type(e).__name__}: {e}'.strip()[:300]
    return result


def probe_all() -> dict:
    """:func:`probe_nvenc` of every NVENC encoder, by name."""
    return {codec: probe_nvenc(codec) for codec in CODECS}
