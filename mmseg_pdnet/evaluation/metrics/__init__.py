from .jf_core import (boundary_map, contour_accuracy, evaluate_frame,
                      region_similarity, sequence_statistics,
                      temporal_instability)
from .jf_metric import JFMetric
from .jf_summary import format_table, summarize, write_summary

__all__ = [
    'JFMetric', 'boundary_map', 'contour_accuracy', 'region_similarity',
    'sequence_statistics', 'temporal_instability', 'evaluate_frame',
    'summarize', 'format_table', 'write_summary'
]
