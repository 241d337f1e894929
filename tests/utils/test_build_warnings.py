"""Building PDNet prints no mmseg deprecation noise (every tool showed
"``build_loss`` would be deprecated soon"), other warnings still show."""
import warnings

from mmengine.config import Config
from mmseg.models.decode_heads import decode_head
from mmseg.registry import MODELS

from tests.helpers import DEMO_CONFIG

HEAD = dict(type='PDFusionHead', in_channels=32, channels=32,
            motion_channels=16)


def build_recording(cfg):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        module = MODELS.build(cfg)
    return module, [str(w.message) for w in caught]


def test_model_build_has_no_build_loss_warning():
    cfg = Config.fromfile(DEMO_CONFIG)
    _, messages = build_recording(cfg.model)
    assert not [m for m in messages if 'build_loss' in m], messages


def test_only_that_warning_is_silenced(monkeypatch):
    real = decode_head.build_loss

    def build_loss(cfg):
        warnings.warn('``build_loss`` would be deprecated soon, please use '
                      '``mmseg.registry.MODELS.build()`` ')
        warnings.warn('another problem worth seeing')
        return real(cfg)

    monkeypatch.setattr(decode_head, 'build_loss', build_loss)
    head, messages = build_recording(HEAD)
    assert type(head.loss_decode).__name__ == 'PDSegLoss'
    assert 'another problem worth seeing' in messages
    assert not [m for m in messages if 'build_loss' in m], messages
    # the filter is scoped to the head's construction
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        build_loss(dict(type='PDSegLoss'))
    assert any('build_loss' in str(w.message) for w in caught)
