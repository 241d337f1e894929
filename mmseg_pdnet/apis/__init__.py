from .compositing import (colour_parts, contact_sheet, overlay,
                          parse_background, render, replace_background)
from .cuda_graph_runner import CUDAGraphRunner, StaticReferenceCache
from .preprocessing import FrameUploader, StreamPreprocessor
from .video_inferencer import FrameResult, VideoPortraitInferencer
from .video_io import AtomicVideoWriter, open_source

__all__ = [
    'VideoPortraitInferencer', 'FrameResult', 'open_source',
    'AtomicVideoWriter', 'parse_background', 'replace_background', 'overlay',
    'render', 'colour_parts', 'contact_sheet', 'StreamPreprocessor',
    'FrameUploader', 'CUDAGraphRunner', 'StaticReferenceCache'
]
