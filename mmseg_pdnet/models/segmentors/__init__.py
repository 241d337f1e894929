from .pdnet import PDNet

__all__ = ['PDNet']
