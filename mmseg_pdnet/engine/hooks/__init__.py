from .atomic_checkpoint_hook import AtomicCheckpointHook
from .channels_last_hook import ChannelsLastHook
from .inference_speed_hook import InferenceSpeedHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .pair_visualization_hook import PairVisualizationHook
from .preemption_hook import PreemptionHook
from .save_masks_hook import SaveMasksHook
from .strict_load_hook import StrictLoadHook

__all__ = [
    'ChannelsLastHook', 'SaveMasksHook', 'PairVisualizationHook',
    'InferenceSpeedHook', 'AtomicCheckpointHook', 'StrictLoadHook',
    'PreemptionHook', 'NonFiniteLossHook'
]
