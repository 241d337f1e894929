"""Any MMSeg backbone (and MMSeg's FPN) plugs into the Siamese encoder."""
import pytest
import torch
from mmseg.registry import MODELS

from tests.helpers import build_model, demo_batch, tiny_model_cfg

BACKBONES = {
    'ResNet101': (dict(type='ResNet', depth=101, style='pytorch'),
                  [256, 512, 1024, 2048]),
    'ResNetV1c': (dict(type='ResNetV1c', depth=18), [64, 128, 256, 512]),
    'MobileNetV2': (dict(type='MobileNetV2', widen_factor=0.5,
                         out_indices=(1, 2, 4, 6)), [16, 16, 48, 160]),
    'MiT': (dict(type='MixVisionTransformer', embed_dims=16,
                 num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8]),
            [16, 32, 80, 128]),
    'Swin': (dict(type='SwinTransformer', embed_dims=24, depths=[1, 1, 1, 1],
                  num_heads=[1, 2, 3, 4], window_size=4), [24, 48, 96, 192]),
}


@pytest.mark.parametrize('name', list(BACKBONES))
def test_backbone_swap_by_config(name):
    backbone, channels = BACKBONES[name]
    cfg = tiny_model_cfg()
    # exactly what `_base_` + a `model.backbone` override does
    cfg.backbone.backbone = backbone
    cfg.backbone.decoder.in_channels = channels
    model = build_model(cfg).train()
    data = model.data_preprocessor(demo_batch(n=1, size=64), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(sum(losses.values()))
    model.eval()
    with torch.no_grad():
        assert model(data['inputs'], mode='tensor').shape == (1, 1, 64, 64)


def test_mmseg_fpn_in_place_of_the_multiplicative_decoder():
    cfg = tiny_model_cfg()
    cfg.backbone.decoder = dict(
        type='FPN', in_channels=[64, 128, 256, 512], out_channels=128,
        num_outs=4)
    model = build_model(cfg).eval()
    assert type(model.backbone.decoder).__name__ == 'FPN'
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (1, 1, 64, 64)


def test_decoder_level_mismatch_is_a_clear_error():
    decoder = MODELS.build(dict(type='MultiplicativeTopDown',
                                in_channels=[8, 16, 32, 64], channels=8))
    with pytest.raises(ValueError, match='expected 4 feature levels'):
        decoder([torch.randn(1, 8, 8, 8)] * 3)
