"""Settings of the paper configs that no model or loop test would notice
when changed (docs/fidelity.md)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmseg_pdnet.engine.optimizers import apply_phase_lr, restore_lr
from tests.engine.toy import ToySegmentor
from tests.helpers import DEMO_CONFIG, PAPER_CONFIG, config_path

#: every config of the paper's recipe (all but the CPU demo)
PAPER_CONFIGS = sorted(
    p for p in glob.glob(config_path('*.py')) if p != DEMO_CONFIG)


def dataset_pipelines(dataset: dict) -> list:
    """The pipelines of a dataset config, through wrapper datasets
    (``dataset`` / ``datasets`` keys)."""
    if 'pipeline' in dataset:
        return [dataset['pipeline']]
    inner = dataset.get('datasets') or [dataset['dataset']]
    return [p for d in inner for p in dataset_pipelines(d)]


def steps(pipeline: list, kind: str) -> list:
    return [s for s in pipeline if s['type'] == kind]


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=osp.basename)
def test_training_masks_are_soft_and_frames_resized_in_float(path):
    """As the authors' loaders, in every training pipeline (the video set
    and each image set): masks / 255 (fractional after the bilinear
    resize) and frames interpolated without rounding to 8 bits. Test
    masks stay binary, at the original resolution."""
    cfg = Config.fromfile(path)
    train = dataset_pipelines(cfg.train_dataloader.dataset)
    images = dataset_pipelines(cfg.train_cfg.image_dataloader.dataset)
    assert len(train) == 1 and len(images) == 3  # EG1800, Supervisely, COCO
    for pipeline in train + images:
        (load, ) = steps(pipeline, 'LoadPairedAnnotations')
        assert load.get('soft_masks') is True
        (resize, ) = steps(pipeline, 'PairedResize')
        assert resize.get('to_float32') is True
    for pipeline in dataset_pipelines(cfg.test_dataloader.dataset):
        (load, ) = steps(pipeline, 'LoadPairedAnnotations')
        assert not load.get('soft_masks', False)
        (resize, ) = steps(pipeline, 'PairedResize')
        assert resize.get('to_float32') is True
        names = [s['type'] for s in pipeline]
        assert names.index('PairedResize') < names.index(
            'LoadPairedAnnotations')


def test_paper_backbone_lr_is_one_override_away(load_tool):
    """The authors' code trains the backbone at 0.01 x base on video
    steps, the paper's text says 2.5e-5 (0.1 x base): the documented
    ``--cfg-options`` override gives the paper's value and changes
    nothing else."""
    train = load_tool('train.py')
    key = 'optim_wrapper.paramwise_cfg.phase_lr_mult.video.backbone'
    args = train.parse_args([PAPER_CONFIG, '--cfg-options', f'{key}=0.1'])
    cfg = train.build_cfg(args)
    default = Config.fromfile(PAPER_CONFIG).optim_wrapper
    assert default.paramwise_cfg.phase_lr_mult.video.backbone == 0.01
    assert cfg.optim_wrapper.paramwise_cfg.phase_lr_mult == dict(
        image=dict(backbone=1.0, others=0.0),
        video=dict(backbone=0.1, others=10.0))
    wrapper = build_optim_wrapper(ToySegmentor(), cfg.optim_wrapper)
    optimizer = wrapper.optimizer
    assert [g['name'] for g in optimizer.param_groups] == ['backbone',
                                                          'others']
    saved = apply_phase_lr(optimizer, 'video')
    assert [g['lr'] for g in optimizer.param_groups] == pytest.approx(
        [2.5e-5, 2.5e-3])
    restore_lr(optimizer, saved)
    apply_phase_lr(optimizer, 'image')
    assert [g['lr'] for g in optimizer.param_groups] == pytest.approx(
        [2.5e-4, 0.0])
