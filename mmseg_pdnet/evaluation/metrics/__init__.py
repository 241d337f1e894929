from .binarize import (binarize_probability, check_threshold,
                       describe_threshold, quantize_probability,
                       threshold_name)
from .jf_core import (boundary_map, boundary_tolerance, contour_accuracy,
                      decay_bin_ids, disk, evaluate_frame, region_similarity,
                      sequence_statistics)
from .jf_metric import JFMetric
from .jf_summary import (format_table, metrics_in_percent, summarize,
                         write_summary)
from .temporal_stability import (change_disagreement, pack_mask,
                                 temporal_stability, unpack_mask)

__all__ = [
    'JFMetric', 'binarize_probability', 'check_threshold',
    'describe_threshold', 'quantize_probability', 'threshold_name',
    'boundary_map', 'boundary_tolerance', 'contour_accuracy',
    'decay_bin_ids', 'disk', 'evaluate_frame', 'region_similarity',
    'sequence_statistics', 'format_table', 'metrics_in_percent', 'summarize',
    'write_summary', 'change_disagreement', 'pack_mask', 'temporal_stability',
    'unpack_mask'
]
