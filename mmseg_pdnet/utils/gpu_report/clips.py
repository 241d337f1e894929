# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Generated H.264 clips for the end-to-end video runs: a textured
background panning sideways and a head-and-shoulders shape swaying over
it (speed does not depend on the content, but the decoder's does a
little, so the frames are not flat)."""
from fractions import Fraction

import cv2
import numpy as np


def write_clip(path: str, width: int, height: int, frames: int,
               fps: int = 30, seed: int = 0) -> str:
    """Write an H.264 MP4 clip (PyAV, libx264 ``ultrafast``).

    Args:
        path (str): The ``.mp4`` to write.
        width (int): Frame width (even).
        height (int): Frame height (even).
        frames (int): Number of frames.
        fps (int): Frame rate.
        seed (int): Seed of the background texture.

    Returns:
        str: ``path``.

    Raises:
        ValueError: An odd width or height (H.264 yuv420p needs even ones).
    """
    import av
    if width % 2 or height % 2:
        raise ValueError(f'{path}: width and height must be even for '
                         f'H.264, got {width}x{height}')
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 8 + 1, width // 4 + 1, 3),
                         dtype=np.uint8)
    canvas = cv2.resize(noise, (2 * width, height),
                        interpolation=cv2.INTER_LINEAR)
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264',
                                      rate=Fraction(fps).limit_denominator())
        stream.width, stream.height = width, height
        stream.pix_fmt = 'yuv420p'
        stream.options = {'preset': 'ultrafast'}
        for t in range(frames):
            x0 = (3 * t) % width
            frame = np.ascontiguousarray(canvas[:, x0:x0 + width])
            cx = int(width * (0.5 + 0.15 * np.sin(0.05 * t)))
            cv2.ellipse(frame, (cx, int(0.35 * height)),
                        (height // 9, height // 7), 0, 0, 360,
                        (80, 120, 200), -1)
            cv2.ellipse(frame, (cx, height), (height // 3, height // 2), 0,
                        180, 360, (40, 40, 160), -1)
            video_frame = av.VideoFrame.from_ndarray(frame, format='bgr24')
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def count_frames(path: str) -> int:
    """Frames decoded from a video file (PyAV)."""
    import av
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))
