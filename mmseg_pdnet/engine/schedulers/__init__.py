from .pdnet_poly_lr import PDNetPolyLR

__all__ = ['PDNetPolyLR']
