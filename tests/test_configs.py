"""Every config parses; every model config builds (no download)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_pdnet  # noqa: F401
from mmseg.registry import MODELS
from tests.helpers import PAPER_CONFIG, ROOT, config_path

CONFIGS = sorted(glob.glob(config_path('*.py')))
NAMES = [osp.basename(c) for c in CONFIGS]


def test_all_configs_found():
    assert {
        'pdnet_r50_2xb2-60e_mvps-480x480.py',
        'pdnet_r101_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-p1_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-p3_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-2ref_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-noipda_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-geo_2xb2-60e_mvps-480x480.py',
        'pdnet_r50-geo-area_2xb2-60e_mvps-480x480.py',
        'pdnet_r50_2xb2-60e_pphumanseg14k-480x480.py',
        'pdnet_mit-b2_2xb2-60e_mvps-480x480.py',
        'pdnet_r18_1xb4-6e_demo-128x128.py'
    } <= set(NAMES)


@pytest.mark.parametrize('path', CONFIGS, ids=NAMES)
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mmseg_pdnet' in cfg.custom_imports.imports
    assert cfg.train_cfg.type == 'AlternatingImageVideoLoop'
    assert 'optimizer' in cfg.optim_wrapper  # one optimizer, both phases
    init_default_scope('mmseg')
    model_cfg = cfg.model.copy()
    # building must not fetch weights: drop pretrained checkpoints
    model_cfg.backbone.backbone.init_cfg = None
    extractor = (model_cfg.get('part_loss') or {}).get('semantic_extractor')
    if extractor:
        extractor.checkpoint = None
    model = MODELS.build(model_cfg)
    assert model.num_refs == cfg.model.data_preprocessor.num_refs


def test_paper_recipe():
    cfg = Config.fromfile(PAPER_CONFIG)
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_cfg.image_dataloader.batch_size == 2
    # ONE SGD, two groups, per-phase multipliers, one loss scaler (AMP)
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper'
    assert optim.constructor == 'PhaseOptimWrapperConstructor'
    assert optim.optimizer == dict(type='SGD', lr=2.5e-4, momentum=0.9,
                                   weight_decay=5e-4)
    assert optim.paramwise_cfg.groups == dict(backbone=['backbone.backbone'])
    assert optim.paramwise_cfg.phase_lr_mult == dict(
        image=dict(backbone=1.0, others=0.0),
        video=dict(backbone=0.01, others=10.0))
    poly, step = cfg.param_scheduler
    assert (poly.type, poly.power, poly.end) == ('PDNetPolyLR', 0.9, 60)
    assert (step.type, step.milestones, step.gamma) == ('MultiStepLR', [6],
                                                        0.5)
    assert cfg.sync_bn == 'torch'
    assert cfg.model.backbone.backbone.init_cfg.checkpoint == \
        'torchvision://resnet50'
    assert cfg.model.part_loss.semantic_extractor.checkpoint == \
        'torchvision://resnet18'
    assert cfg.val_evaluator.type == 'JFMetric'
    # no checkpoint selection on the evaluation split (the test set)
    assert cfg.default_hooks.checkpoint.save_best is None
    assert cfg.default_hooks.checkpoint.interval == 1
    assert cfg.train_dataloader.drop_last is True
    assert cfg.train_cfg.image_dataloader.drop_last is True
    assert cfg.val_dataloader.dataset.split == 'val'


def test_variants_change_what_they_say():
    def load(name):
        return Config.fromfile(config_path(name))

    r101 = load('pdnet_r101_2xb2-60e_mvps-480x480.py').model
    assert r101.backbone.backbone.depth == 101
    p1 = load('pdnet_r50-p1_2xb2-60e_mvps-480x480.py').model
    assert p1.neck.num_parts == 1
    p3 = load('pdnet_r50-p3_2xb2-60e_mvps-480x480.py').model
    assert p3.neck.num_parts == 3
    two = load('pdnet_r50-2ref_2xb2-60e_mvps-480x480.py')
    assert two.model.neck.num_refs == 2
    assert two.model.data_preprocessor.num_refs == 2
    assert two.train_dataloader.dataset.ref_strategy == 'first+prev5'
    assert two.test_dataloader.dataset.ref_strategy == 'first+prev5'
    assert all(d.num_refs == 2 for d in
               two.train_cfg.image_dataloader.dataset.datasets)
    noipda = load('pdnet_r50-noipda_2xb2-60e_mvps-480x480.py').model
    assert noipda.use_ipda is False
    geo = load('pdnet_r50-geo_2xb2-60e_mvps-480x480.py').model.part_loss
    assert (geo.loss_geo_weight, geo.loss_sem_weight,
            geo.loss_area_weight) == (1.0, 0.0, 0.0)
    geo_area = load(
        'pdnet_r50-geo-area_2xb2-60e_mvps-480x480.py').model.part_loss
    assert (geo_area.loss_sem_weight, geo_area.loss_area_weight) == (0.0,
                                                                     1.0)
    mit = load('pdnet_mit-b2_2xb2-60e_mvps-480x480.py').model.backbone
    assert mit.backbone.type == 'MixVisionTransformer'
    assert mit.decoder.in_channels == [64, 128, 320, 512]
    pp = load('pdnet_r50_2xb2-60e_pphumanseg14k-480x480.py')
    assert pp.train_dataloader.dataset.type == 'PPHumanSeg14KDataset'
    assert pp.optim_wrapper.type == 'AmpOptimWrapper'
    assert pp.optim_wrapper.paramwise_cfg.phase_lr_mult.video.others == 10.0
    assert pp.default_hooks.checkpoint.save_best is None
    demo = load('pdnet_r18_1xb4-6e_demo-128x128.py')
    assert demo.model.backbone.backbone.depth == 18
    assert demo.model.backbone.backbone.init_cfg is None
    assert 'image_dataloader' not in demo.train_cfg


def test_model_zoo_metafile_and_readme_name_existing_configs():
    """configs/pdnet/metafile.yaml (read by mim) and README.md list real
    configs, under their file names."""
    import yaml
    with open(config_path('metafile.yaml')) as f:
        meta = yaml.safe_load(f)
    assert meta['Collections'][0]['Name'] == 'PDNet'
    for model in meta['Models']:
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        assert model['Name'] + '.py' == osp.basename(model['Config'])
        assert model['In Collection'] == 'PDNet'
        assert 'paper' in model['Metadata']['Results Source']
    with open(config_path('README.md')) as f:
        readme = f.read()
    for name in NAMES:
        assert f'`{name}`' in readme, f'{name} missing from the zoo README'


#: the short name of the paper's config (configs/pdnet_r50_mvps.py)
SHORT_ALIAS = osp.join(ROOT, 'configs', 'pdnet_r50_mvps.py')


def test_short_alias_is_the_model_zoo_config():
    alias, zoo = Config.fromfile(SHORT_ALIAS), Config.fromfile(PAPER_CONFIG)
    # the file names differ (Config.filename, not part of the dict)
    assert alias.filename != zoo.filename
    assert alias.to_dict() == zoo.to_dict()


def test_short_alias_trains_until_the_missing_data(tmp_path):
    """``python tools/train.py configs/pdnet_r50_mvps.py`` without MVPS (the
    config's data/MVPS is relative to the working directory): the config
    loads, the runner is built, and training stops with one line naming the
    missing data, not a traceback. Nothing is downloaded before that."""
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), SHORT_ALIAS],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error: data/MVPS/'), proc.stderr
    assert 'does not exist' in last, last
    assert osp.isdir(tmp_path / 'work_dirs' / 'pdnet_r50_mvps')
