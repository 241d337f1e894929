# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""A PDNet training step to measure: a fixed batch and the step
(``PDNet.loss`` forward + backward) as a callable."""
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from .precision import autocast


def ellipse_masks(n: int, size: int, shift: float) -> torch.Tensor:
    """``(n, 1, size, size)`` long portrait-like blobs (ground truth)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size),
                            torch.linspace(-1, 1, size), indexing='ij')
    masks = [((xx - shift * (i + 1))**2 / 0.25 + (yy - 0.3)**2 / 0.5 <
              1).long() for i in range(n)]
    return torch.stack(masks)[:, None]


def training_batch(batch: int, size: int, num_refs: int, device: str
                   ) -> Tuple[torch.Tensor, List[SegDataSample]]:
    """A fixed training batch (seeded), as the data preprocessor gives it.

    Args:
        batch (int): Clips.
        size (int): Height and width.
        num_refs (int): Reference frames per clip.
        device (str): Where the tensors go.

    Returns:
        tuple: normalised inputs ``(B, 3 (1 + R), H, W)`` and the data
        samples (0/1 target and reference masks).
    """
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randn(batch, 3 * (1 + num_refs), size, size,
                         generator=gen).to(device)
    gt = ellipse_masks(batch, size, 0.1)
    samples = []
    for i in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=gt[i].to(device))
        sample.gt_ref_seg = PixelData(
            data=gt[i].repeat(num_refs, 1, 1).roll(size // 20, -1).to(device))
        sample.set_metainfo(dict(img_shape=(size, size),
                                 ori_shape=(size, size), is_image=False))
        samples.append(sample)
    return inputs, samples


def total_loss(losses: dict) -> torch.Tensor:
    """The sum of the ``loss*`` entries of ``PDNet.loss``'s output."""
    return sum(v for k, v in losses.items() if 'loss' in k)


def train_step(model, inputs: torch.Tensor, samples: list,
               amp_dtype: Optional[torch.dtype] = None,
               loss_fn: Optional[Callable] = None) -> Callable:
    """One training step without arguments: gradients cleared, the losses
    under autocast, backward. No optimizer and no value read back, so
    nothing but the step is timed.

    Args:
        model (PDNet): In training mode.
        inputs (Tensor): :func:`training_batch`'s inputs.
        samples (list): Its data samples.
        amp_dtype (torch.dtype, optional): Autocast dtype; None: fp32.
        loss_fn (Callable, optional): ``model.loss`` or a compiled
            version of it.

    Returns:
        Callable: The step; returns the detached total loss.
    """
    loss_fn = loss_fn or model.loss
    device = inputs.device.type

    def step():
        model.zero_grad(set_to_none=True)
        with autocast(amp_dtype, device):
            losses = loss_fn(inputs, samples)
        total = total_loss(losses)
        total.backward()
        return total.detach()

    return step
