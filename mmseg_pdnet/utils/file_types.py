# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""File suffixes the package recognises (lower case, with the dot).

Plain facts with no imports, below every layer that uses them: the
command-line checks (:mod:`mmseg_pdnet.utils.cli`), the datasets and the
video I/O all read them from here, so no lower layer imports a higher one
for a constant.
"""

#: frame files the datasets and the video tools read
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
#: video containers the tools read and write
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
#: video containers that carry an alpha channel: ``.mov`` (ProRes 4444),
#: ``.webm`` (VP9 with ``yuva420p``)
ALPHA_VIDEO_SUFFIXES = ('.mov', '.webm')
