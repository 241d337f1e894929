from .compositing import (colour_parts, contact_sheet, overlay,
                          parse_background, render, replace_background)
from .cuda_graph_runner import CUDAGraphRunner, StaticReferenceCache
from .guided_upsampling import GuidedUpsampler, build_upsampler
from .preprocessing import FrameUploader, StreamPreprocessor
from .temporal_filter import TemporalFilter, build_temporal_filter
from .video_inferencer import FrameResult, VideoPortraitInferencer
from .video_io import AtomicVideoWriter, has_audio, open_source, probe_video

__all__ = [
    'VideoPortraitInferencer', 'FrameResult', 'open_source', 'probe_video',
    'has_audio', 'AtomicVideoWriter', 'parse_background',
    'replace_background', 'overlay',
    'render', 'colour_parts', 'contact_sheet', 'StreamPreprocessor',
    'FrameUploader', 'CUDAGraphRunner', 'StaticReferenceCache',
    'GuidedUpsampler', 'build_upsampler', 'TemporalFilter',
    'build_temporal_filter'
]
