from .checkpoint import (history_buffer_getattr,
                         register_safe_checkpoint_globals)
from .pretrained import PretrainedWeightsUnavailable

register_safe_checkpoint_globals()

__all__ = [
    'register_safe_checkpoint_globals', 'history_buffer_getattr',
    'PretrainedWeightsUnavailable'
]
