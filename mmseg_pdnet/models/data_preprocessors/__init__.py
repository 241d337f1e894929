from .paired_data_preprocessor import PairedSegDataPreProcessor

__all__ = ['PairedSegDataPreProcessor']
