from .multiplicative_top_down import MultiplicativeTopDown
from .siamese_encoder import SiameseEncoder

__all__ = ['MultiplicativeTopDown', 'SiameseEncoder']
