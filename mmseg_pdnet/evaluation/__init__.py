from .mask_folders import (binarize_prediction, evaluate_folders,
                           read_prediction)
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = ['binarize_prediction', 'evaluate_folders', 'read_prediction'
           ] + _metrics_all
