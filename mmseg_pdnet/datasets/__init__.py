from .portrait_image_dataset import PortraitImageDataset
from .pphumanseg14k_dataset import PPHumanSeg14KDataset
from .synthetic import make_demo_dataset
from .transforms import *  # noqa: F401,F403
from .validation import DatasetError, image_size, validate_data_list
from .video_portrait_dataset import (DAVISVideoDataset, MVPSDataset,
                                     VideoPortraitDataset)

__all__ = [
    'VideoPortraitDataset', 'MVPSDataset', 'DAVISVideoDataset',
    'PPHumanSeg14KDataset', 'PortraitImageDataset', 'make_demo_dataset',
    'DatasetError', 'validate_data_list', 'image_size'
]
