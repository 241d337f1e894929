from .alternating_loop import AlternatingImageVideoLoop
from .cpu_distributed import close_distributed, prepare_cpu_distributed
from .interleaved_loader import InterleavedImageVideoLoader

__all__ = [
    'AlternatingImageVideoLoop', 'InterleavedImageVideoLoader',
    'prepare_cpu_distributed', 'close_distributed'
]
