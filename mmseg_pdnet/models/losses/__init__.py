from .area_variance_loss import AreaVarianceLoss
from .frozen_resnet18 import FrozenResNet18Features
from .geometric_concentration_loss import GeometricConcentrationLoss
from .orthonormal_loss import OrthonormalLoss
from .part_decoupling_loss import PartDecouplingLoss
from .pd_seg_loss import PDSegLoss
from .semantic_consistency_loss import SemanticConsistencyLoss
from .sigmoid_l1_loss import SigmoidL1Loss
from .weighted_bce_loss import WeightedBCELoss

__all__ = [
    'AreaVarianceLoss', 'FrozenResNet18Features',
    'GeometricConcentrationLoss', 'OrthonormalLoss', 'PartDecouplingLoss',
    'PDSegLoss', 'SemanticConsistencyLoss', 'SigmoidL1Loss',
    'WeightedBCELoss'
]
