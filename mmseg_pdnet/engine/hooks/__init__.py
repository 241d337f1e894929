from .save_masks_hook import SaveMasksHook

__all__ = ['SaveMasksHook']
