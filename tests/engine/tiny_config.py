"""A tiny PDNet training config on tiny synthetic clips (CPU, seconds).

Inherits configs/pdnet/pdnet_r18_1xb4-5e_demo-128x128.py, so the tools and the DDP test run the
real model, dataset, loop and constructor; only sizes shrink.
"""
import importlib.util
import os
import os.path as osp
import shutil

from mmseg_pdnet.datasets.synthetic import make_demo_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TEMPLATE = """
_base_ = ['{root}/configs/pdnet/pdnet_r18_1xb4-5e_demo-128x128.py']
data_root = '{data}'
crop_size = 64
train_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations', soft_masks=True),
    dict(type='PairedRandomCrop', max_drop=1 / 8),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedResize', scale=crop_size),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PairedResize', scale=crop_size),
    dict(type='LoadPairedAnnotations', with_ref=False),
    dict(type='PackPairedSegInputs'),
]
model = dict(backbone=dict(decoder=dict(channels=32)),
             neck=dict(in_channels=32, channels=16, attn_channels=8),
             decode_head=dict(in_channels=32, channels=32,
                              motion_channels=16))
train_dataloader = dict(
    batch_size={batch}, dataset=dict(data_root=data_root,
                                     pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr={lr}))
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={epochs}))
"""

IMAGES = """
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
    clip_grad=dict(max_norm=10.),  # as the demo config it replaces
    constructor='PhaseOptimWrapperConstructor',
    paramwise_cfg=dict(
        groups=dict(backbone=['backbone.backbone']),
        phase_lr_mult=dict(image=dict(backbone=1.0, others=0.0),
                           video=dict(backbone=0.01, others=10.0))))
train_cfg.update(image_dataloader=dict(
    batch_size={batch}, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='PortraitImageDataset', data_root='{images}',
                 pipeline=train_pipeline)))
"""


def import_tool(rel_path: str):
    """Import a script of tools/ (e.g. ``'train.py'``) as a module, to call
    its ``main(argv)``."""
    path = osp.join(ROOT, 'tools', rel_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tiny_data(root: str, frames: int = 4) -> str:
    """Two train clips and one test clip of ``frames`` 64x96 frames."""
    make_demo_dataset(root, seed=1, train_clips=2, test_clips=1,
                      min_frames=frames, max_frames=frames, height=64,
                      width=96)
    return root


def make_image_set(data_root: str, out: str) -> str:
    """Still images (+ masks) taken from the first train clip's frames."""
    seq = sorted(os.listdir(osp.join(data_root, 'Keyframes', '480p')))[-1]
    for sub, src in (('images', 'Keyframes'), ('masks', 'Annotations')):
        shutil.copytree(osp.join(data_root, src, '480p', seq),
                        osp.join(out, sub))
    return out


def write_tiny_config(path: str, data_root: str, epochs: int = 1,
                      batch: int = 2, lr: float = 0.02,
                      image_root: str = None) -> str:
    text = TEMPLATE.format(root=ROOT, data=data_root, epochs=epochs,
                           batch=batch, lr=lr)
    if image_root is not None:
        text += IMAGES.format(images=image_root, batch=batch)
    with open(path, 'w') as f:
        f.write(text)
    return path
