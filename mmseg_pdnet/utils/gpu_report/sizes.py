# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""What each section of the GPU report runs: the full sizes (one CUDA
GPU, at most 8 minutes in all) or tiny ones (the CPU test of the tool)."""
from dataclasses import asdict, dataclass, field
from typing import Dict, Tuple

#: --cfg-options-style changes that make PDNet-R50 a tiny one: a
#: ResNet-18 encoder of a quarter of the width (16 to 128 channels),
#: narrow decoder, IPDA and head (p = 5 kept); a training step at 64x64
#: takes 2.5 times less CPU than at ResNet-18's full width
TINY_MODEL = {
    'backbone.backbone.depth': 18,
    'backbone.backbone.stem_channels': 16,
    'backbone.backbone.base_channels': 16,
    'backbone.decoder.in_channels': [16, 32, 64, 128],
    'backbone.decoder.channels': 32,
    'neck.in_channels': 32,
    'neck.channels': 16,
    'neck.attn_channels': 8,
    'decode_head.in_channels': 32,
    'decode_head.channels': 32,
    'decode_head.motion_channels': 16,
}


@dataclass
class ReportSizes:
    """Sizes and repetitions of the report's sections.

    Attributes:
        size (int): Square network input (inference, training, recipe).
        batches (tuple[int]): Inference batch sizes.
        warmup (int): Untimed rounds before the timed inference rounds.
        repeats (int): Timed inference rounds (every callable each round).
        train_batch (int): Clips per training step.
        train_warmup (int): Untimed steps per training variant (the first
            compiles the compiled variant).
        train_repeats (int): Timed training steps per variant.
        compile_backend (str): ``torch.compile`` backend of the compiled
            training step.
        clips (dict): name -> (width, height, frames) of the clips that
            ``infer_video`` segments.
        recipe_clips (tuple[int, int]): train clips and frames per clip of
            the generated MVPS-layout set (batch 2: an epoch is
            ``V + ceil(V / 2)`` iterations with ``V = clips * frames / 2``).
        recipe_frame (tuple[int, int]): (height, width) of its frames.
        model_options (dict): Model changes (tiny: ResNet-18).
        workers (int): Data loader workers of the recipe run.
        serialize_data (bool): The datasets' ``serialize_data`` (MMEngine
            packs the annotations for the workers to share, then runs
            ``gc.collect()``: 0.3 s per dataset in a process that imported
            torch, five datasets per ``train.py`` run, for a handful of
            frames in the tiny run).
        timeout_s (dict): Limit per subprocess section.
    """
    size: int = 480
    batches: Tuple[int, ...] = (1, 8)
    warmup: int = 10
    repeats: int = 50
    train_batch: int = 2
    train_warmup: int = 3
    train_repeats: int = 20
    compile_backend: str = 'inductor'
    clips: Dict[str, Tuple[int, int, int]] = field(default_factory=lambda: {
        '480p': (854, 480, 600), '1080p': (1920, 1080, 300)})
    recipe_clips: Tuple[int, int] = (4, 10)
    recipe_frame: Tuple[int, int] = (270, 480)
    model_options: Dict = field(default_factory=dict)
    workers: int = 4
    serialize_data: bool = True
    timeout_s: Dict[str, int] = field(default_factory=lambda: dict(
        cuda_tests=150, video=150, recipe=150))

    def to_dict(self) -> dict:
        return asdict(self)


def full_sizes() -> ReportSizes:
    """The report of one CUDA GPU."""
    return ReportSizes()


def tiny_sizes() -> ReportSizes:
    """Every code path at sizes a 2-core CPU runs in seconds."""
    return ReportSizes(
        size=64, batches=(1, 2), warmup=1, repeats=2, train_warmup=1,
        train_repeats=1, compile_backend='eager',
        # one clip: the second runs the same code (a process start less)
        clips={'480p': (96, 64, 6)},
        # one clip of 3 frames (validation scores the frames between the
        # first and the last): 1 video + 1 image iteration an epoch
        recipe_clips=(1, 3), recipe_frame=(64, 96),
        model_options=dict(TINY_MODEL), workers=0, serialize_data=False,
        timeout_s=dict(cuda_tests=120, video=120, recipe=180))
