from .ipda import IPDA
from .part_cross_attention import PartCrossAttention

__all__ = ['IPDA', 'PartCrossAttention']
