"""set_data_root / set_image_data_roots (tools' --data-root and
--image-data-root): paths kept as given, every dataset reached."""
import pytest
from mmengine.config import Config

from mmseg_pdnet.utils import set_data_root, set_image_data_roots
from tests.helpers import DEMO_CONFIG, PAPER_CONFIG

ROOT = 'my data/Ünïcode clips'


def test_every_video_dataset_of_the_paper_config():
    cfg = Config.fromfile(PAPER_CONFIG)
    images = [d.data_root for d in
              cfg.train_cfg.image_dataloader.dataset.datasets]
    set_data_root(cfg, ROOT)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == ROOT, key
    assert cfg.data_root == ROOT
    # the still-image sets keep their own roots
    assert [d.data_root for d in
            cfg.train_cfg.image_dataloader.dataset.datasets] == images
    # the saved config keeps the path too
    assert Config.fromstring(cfg.pretty_text, '.py').train_dataloader \
        .dataset.data_root == ROOT


def test_concat_children_and_wrapped_datasets():
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            dict(type='MVPSDataset', data_root='a'),
            dict(type='RepeatDataset', times=2,
                 dataset=dict(type='MVPSDataset', data_root='b')),
        ])),
        val_dataloader=None))
    set_data_root(cfg, ROOT)
    datasets = cfg.train_dataloader.dataset.datasets
    assert datasets[0].data_root == ROOT
    assert datasets[1].dataset.data_root == ROOT
    assert 'data_root' not in cfg


def test_image_data_roots_one_per_image_set():
    cfg = Config.fromfile(PAPER_CONFIG)
    roots = ['my images/EG 1800', 'Supervisely', 'COCO person']
    set_image_data_roots(cfg, roots)
    assert [d.data_root for d in
            cfg.train_cfg.image_dataloader.dataset.datasets] == roots
    with pytest.raises(ValueError, match=r'1 image data root\(s\) given, '
                       r'but the config has 3 image dataset\(s\)'):
        set_image_data_roots(cfg, ['x'])
    demo = Config.fromfile(DEMO_CONFIG)
    with pytest.raises(ValueError, match='has 0 image dataset'):
        set_image_data_roots(demo, ['x'])
