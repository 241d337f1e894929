# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The models the speed tools measure: PDNet from a config (downloads
switched off) and the single-frame MMSeg baseline it is compared with."""
import copy
import warnings
from typing import Optional

from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

# Baseline heads: MMSeg's standard FPN width (configs/_base_/models/
# fpn_r50.py) and an FCN head with two 3x3 convs on the stride-4 FPN level.
BASELINE_FPN_CHANNELS = 256
BASELINE_HEAD_CHANNELS = 128


def load_pdnet_config(path: str, cfg_options: Optional[dict] = None
                      ) -> Config:
    """A PDNet config with downloads switched off (random init).

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` to merge.

    Returns:
        Config: The config; the encoder's ``init_cfg`` and the frozen
        semantic extractor's checkpoint are None (speed and memory do not
        depend on the weights).

    Raises:
        ValueError: The config's model is not a PDNet.
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg or cfg.model.get('type') != 'PDNet':
        raise ValueError(f'{path}: expected a PDNet model config (model.type '
                         f"= 'PDNet'), got {cfg.get('model', {}).get('type')}")
    cfg.model.backbone.backbone.init_cfg = None
    if cfg.model.get('part_loss') and \
            cfg.model.part_loss.get('semantic_extractor'):
        cfg.model.part_loss.semantic_extractor.checkpoint = None
    return cfg


def baseline_config(model_cfg) -> dict:
    """Single-frame MMSeg EncoderDecoder: PDNet's backbone + FPN + FCN head.

    The backbone dict is copied from the PDNet config (same depth, strides,
    norm), so ``--cfg-options`` backbone overrides apply to both models.

    Args:
        model_cfg (ConfigDict): The PDNet model config.

    Returns:
        dict: The baseline's model config (random init).
    """
    backbone = copy.deepcopy(model_cfg.backbone.backbone)
    backbone = backbone.to_dict() if hasattr(backbone, 'to_dict') else backbone
    backbone['init_cfg'] = None
    in_channels = list(model_cfg.backbone.decoder.in_channels)
    norm_cfg = backbone.get('norm_cfg', dict(type='BN', requires_grad=True))
    return dict(
        type='EncoderDecoder',
        backbone=backbone,
        neck=dict(
            type='FPN',
            in_channels=in_channels,
            out_channels=BASELINE_FPN_CHANNELS,
            num_outs=len(in_channels)),
        decode_head=dict(
            type='FCNHead',
            in_channels=BASELINE_FPN_CHANNELS,
            in_index=0,  # stride 4, PDNet's output stride
            channels=BASELINE_HEAD_CHANNELS,
            num_convs=2,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=2,
            out_channels=1,  # one foreground logit, as PDNet
            threshold=0.5,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def build_model(cfg: dict, device: str, checkpoint: Optional[str] = None):
    """Build and initialise a model config (a copy of it) on ``device``.

    Args:
        cfg (dict): The model config.
        device (str): ``'cpu'`` or ``'cuda'``.
        checkpoint (str, optional): Weights to load.

    Returns:
        nn.Module: The model, in training mode.
    """
    with warnings.catch_warnings():
        # the frozen extractor warns that it has random weights: expected
        warnings.simplefilter('ignore', UserWarning)
        model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device)
