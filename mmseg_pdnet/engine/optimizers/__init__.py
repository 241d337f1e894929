from .cpu_autocast_optim_wrapper import (CPUAutocastOptimWrapper,
                                         cpu_has_native_bf16)
from .phase_optim_wrapper_constructor import (PhaseOptimWrapperConstructor,
                                              apply_phase_lr, restore_lr)

__all__ = [
    'PhaseOptimWrapperConstructor', 'apply_phase_lr', 'restore_lr',
    'CPUAutocastOptimWrapper', 'cpu_has_native_bf16'
]
