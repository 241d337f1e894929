from .mask_folders import (PRED_FORMATS, binarize_prediction,  # noqa: F401
                           describe_pred_format, evaluate_folders,
                           read_prediction)
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = [
    'PRED_FORMATS', 'binarize_prediction', 'describe_pred_format',
    'evaluate_folders', 'read_prediction'
] + _metrics_all
