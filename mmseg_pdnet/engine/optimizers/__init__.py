from .phase_optim_wrapper_constructor import (PhaseOptimWrapperConstructor,
                                              apply_phase_lr, restore_lr)

__all__ = ['PhaseOptimWrapperConstructor', 'apply_phase_lr', 'restore_lr']
