from .pd_fusion_head import PDFusionHead
from .spatiotemporal_fusion import SpatiotemporalFusion

__all__ = ['PDFusionHead', 'SpatiotemporalFusion']
