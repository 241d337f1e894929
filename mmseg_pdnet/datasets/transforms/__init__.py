from .formatting import PackPairedSegInputs
from .loading import LoadPairedAnnotations, LoadPairedImages
from .paired_transforms import (PairedPhotoMetricDistortion,
                                PairedRandomCrop, PairedRandomFlip,
                                PairedResize)

__all__ = [
    'LoadPairedImages', 'LoadPairedAnnotations', 'PairedRandomCrop',
    'PairedRandomFlip', 'PairedResize', 'PairedPhotoMetricDistortion',
    'PackPairedSegInputs'
]
