from .phase_optim_wrapper_constructor import PhaseOptimWrapperConstructor

__all__ = ['PhaseOptimWrapperConstructor']
