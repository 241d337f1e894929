# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The warnings and errors of the video I/O, and its PyAV requirement."""


class VideoIOWarning(UserWarning):
    """A video was read or written other than as is (partial decode,
    padded frames); the message states what and why."""


class VideoIONote(UserWarning):
    """Information about how a video is written (e.g. the codec fallback
    without libx264): nothing is lost, so the tools show it as a note."""


class IncompleteVideoError(ValueError):
    """A video decoded fewer frames than its container declares.

    Attributes:
        path (str): The video.
        decoded (int): Frames decoded (all were yielded before the error).
        declared (int): Frames the container declares.
        estimated (bool): ``declared`` comes from the container's duration
            (Matroska / WebM declare no count).
    """

    def __init__(self, path: str, decoded: int, declared: int,
                 estimated: bool = False):
        self.path, self.decoded, self.declared = path, decoded, declared
        self.estimated = estimated
        said = f'its duration implies {declared}' if estimated else \
            f'the container declares {declared}'
        super().__init__(
            f'{path}: only {decoded} of {declared} frames could be decoded '
            f'({said}; the file is truncated or damaged)')


def import_av(path: str):
    """PyAV, which reads and writes every video file (OpenCV reads only
    cameras); without it, one error naming the file.

    Raises:
        ImportError: PyAV is not installed.
    """
    try:
        import av
    except ImportError:
        raise ImportError(f'{path}: reading and writing video files needs '
                          'PyAV (pip install av)') from None
    return av
