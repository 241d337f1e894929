from .metrics import *  # noqa: F401,F403
from .mask_folders import evaluate_folders, read_prediction  # noqa: E402,F401
