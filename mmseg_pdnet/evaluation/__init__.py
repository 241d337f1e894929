from .mask_folders import (binarize_prediction, evaluate_folders,
                           read_prediction)
from .metrics import *  # noqa: F401,F403
