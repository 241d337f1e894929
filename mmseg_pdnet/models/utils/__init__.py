from .weight_init import init_pdnet_weights

__all__ = ['init_pdnet_weights']
