from .alternating_loop import AlternatingImageVideoLoop
from .interleaved_loader import InterleavedImageVideoLoader

__all__ = ['AlternatingImageVideoLoop', 'InterleavedImageVideoLoader']
