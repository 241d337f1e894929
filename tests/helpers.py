"""What several test files share: repository paths, the tiny PDNet and the
tiny synthetic data.

Every path here is absolute, so the tests pass from any working directory.

* :data:`ROOT`, :func:`config_path` (:data:`DEMO_CONFIG`,
  :data:`PAPER_CONFIG`, :data:`MODEL_BASE`) and :func:`import_tool` (a
  script of ``tools/`` as a module);
* the tiny ResNet-18 PDNet of the model tests: :func:`tiny_model_cfg`,
  :func:`build_tiny_model` and a paired batch for it, :func:`demo_batch`;
  :func:`write_tiny_model_config` saves it as a config file (inferencer,
  ONNX export and command-line tests);
* a tiny training setup of the demo recipe (``tools/train.py``,
  ``tools/test.py``, DDP and resume tests): :func:`make_tiny_data`,
  :func:`make_image_set` and :func:`write_tiny_config`.
"""
import copy
import importlib.util
import math
import os
import os.path as osp
import shutil
import warnings
from collections import OrderedDict

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_pdnet.datasets.synthetic import make_demo_dataset

#: the repository root
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_path(name: str) -> str:
    """The absolute path of a shipped config.

    Args:
        name (str): A file name under ``configs/pdnet/``, e.g.
            ``'pdnet_r18_1xb4-6e_demo-128x128.py'``, or a path under
            ``configs/`` starting with ``_base_/``, e.g.
            ``'_base_/models/pdnet_r50.py'``.

    Returns:
        str: The path, which need not exist.
    """
    if name.split('/')[0] == '_base_':
        return osp.join(ROOT, 'configs', name)
    return osp.join(ROOT, 'configs', 'pdnet', name)


#: the ResNet-18 demo recipe (random init, bundled synthetic clips)
DEMO_CONFIG = config_path('pdnet_r18_1xb4-6e_demo-128x128.py')
#: the paper's recipe: PDNet-R50 on MVPS
PAPER_CONFIG = config_path('pdnet_r50_2xb2-60e_mvps-480x480.py')
#: the model alone: PDNet-R50 as the authors' (p = 5, one reference)
MODEL_BASE = config_path('_base_/models/pdnet_r50.py')

#: what turns :data:`MODEL_BASE`'s model into the tiny one (``--cfg-options``
#: keys without the ``model.`` prefix): a ResNet-18 encoder
TINY_OPTIONS = {
    'backbone.backbone.depth': 18,
    'backbone.decoder.in_channels': [64, 128, 256, 512],
}


def import_tool(rel_path: str):
    """Import a script of ``tools/`` as a module, to call its
    ``main(argv)``.

    Args:
        rel_path (str): The script's path under ``tools/``, e.g.
            ``'train.py'`` or ``'misc/check_dataset.py'``.

    Returns:
        module: A fresh module object (each call executes the script).
    """
    path = osp.join(ROOT, 'tools', rel_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------- the model


def r50_model_cfg(base: str = MODEL_BASE):
    """PDNet-R50's model config without downloads: random-init encoder,
    random-weight semantic extractor.

    Args:
        base (str): A config file with PDNet-R50 as its ``model``, e.g.
            :data:`PAPER_CONFIG`.
    """
    cfg = Config.fromfile(base).model
    cfg.backbone.backbone.init_cfg = None  # no download in tests
    cfg.part_loss.semantic_extractor.checkpoint = None
    return cfg


def tiny_model_cfg(num_parts: int = 3, num_refs: int = 1,
                   use_ipda: bool = True, base: str = MODEL_BASE,
                   **overrides):
    """The tiny PDNet of the tests: :func:`r50_model_cfg` with a ResNet-18
    encoder (:data:`TINY_OPTIONS`), 3 parts by default.

    Args:
        num_parts (int): The IPDA's number of parts.
        num_refs (int): Reference frames (IPDA and data preprocessor).
        use_ipda (bool): ``model.use_ipda``.
        base (str): The config file of the model to shrink
            (:func:`r50_model_cfg`).
        **overrides: More changes, merged into the model config as
            ``--cfg-options`` are (keys without the ``model.`` prefix;
            dotted keys, e.g. ``**{'neck.channels': 16}``, or nested
            dicts, e.g. ``neck=dict(channels=16)``).

    Returns:
        ConfigDict: The model config, for ``MODELS.build``.
    """
    cfg = Config(dict(model=r50_model_cfg(base)))
    options = dict(TINY_OPTIONS)
    options.update({
        'neck.num_parts': num_parts,
        'neck.num_refs': num_refs,
        'data_preprocessor.num_refs': num_refs,
        'use_ipda': use_ipda,
    })
    # one merge after the other: a nested override (neck=dict(...)) must
    # not replace the tiny keys under the same parent
    for opts in (options, overrides):
        cfg.merge_from_dict({f'model.{k}': v for k, v in opts.items()})
    return cfg.model


def build_model(cfg):
    """Build a model config (a copy of it) and initialise its weights,
    without the random-weight semantic extractor's warning."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random-weight extractor warning
        model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model


def build_tiny_model(**kwargs):
    """:func:`build_model` of :func:`tiny_model_cfg`\\ ``(**kwargs)``."""
    return build_model(tiny_model_cfg(**kwargs))


def demo_batch(n: int = 2, size: int = 64, num_refs: int = 1,
               is_image: bool = False) -> dict:
    """A random paired batch, as the dataloader gives the model.

    Args:
        n (int): Samples.
        size (int): Height and width.
        num_refs (int): Reference frames per sample.
        is_image (bool): The samples' ``is_image`` (image-phase batch).

    Returns:
        dict: ``inputs`` (uint8 ``(3 * (1 + num_refs), size, size)``
        tensors: target then references) and ``data_samples`` (0/1 target
        and reference masks), for ``model.data_preprocessor``.
    """
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3 * (1 + num_refs), size, size),
                                    dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=(torch.rand(1, size, size) > .5).long())
        s.gt_ref_seg = PixelData(
            data=(torch.rand(num_refs, size, size) > .5).long())
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                            is_image=is_image))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def write_tiny_model_config(path: str, input_size: int = 64,
                            **kwargs) -> str:
    """Save :func:`tiny_model_cfg`\\ ``(**kwargs)`` as a config file whose
    test pipeline resizes frames to ``input_size`` squared (what the
    inferencer and the export tool read)."""
    cfg = Config(dict(
        model=tiny_model_cfg(**kwargs).to_dict(),
        test_dataloader=dict(dataset=dict(pipeline=[
            dict(type='LoadPairedImages'),
            dict(type='PairedResize', scale=input_size)
        ]))))
    cfg.dump(str(path))
    return str(path)


# ------------------------------------------------- tiny training on clips


def make_tiny_data(root: str, frames=4, seed: int = 1) -> str:
    """Two train clips and one test clip of 64x96 frames.

    Args:
        root (str): The dataset folder to write (the MVPS layout).
        frames (int | tuple[int, int]): Frames per clip, or the (min, max)
            of a random count.
        seed (int): The synthetic clips' seed.

    Returns:
        str: ``root``.
    """
    low, high = frames if isinstance(frames, tuple) else (frames, frames)
    make_demo_dataset(root, seed=seed, train_clips=2, test_clips=1,
                      min_frames=low, max_frames=high, height=64, width=96)
    return root


def make_image_set(data_root: str, out: str) -> str:
    """Still images (+ masks) taken from the last train clip's frames."""
    seq = sorted(os.listdir(osp.join(data_root, 'Keyframes', '480p')))[-1]
    for sub, src in (('images', 'Keyframes'), ('masks', 'Annotations')):
        shutil.copytree(osp.join(data_root, src, '480p', seq),
                        osp.join(out, sub))
    return out


# The demo recipe (real model, dataset, loop and constructor), shrunk to
# 64x64 crops and narrower decoder / IPDA / head so it trains in seconds.
TINY_TRAIN_TEMPLATE = """
_base_ = ['{demo}']
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
# SGD whatever the demo uses: these tiny runs are tuned for it
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr={lr}, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=10.))
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={epochs}))
"""

# The paper's image phase added to it: one SGD, per-phase multipliers.
TINY_TRAIN_IMAGES = """
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


def write_tiny_config(path: str, data_root: str, epochs: int = 1,
                      batch: int = 2, lr: float = 0.02,
                      image_root: str = None) -> str:
    """Write a training config: :data:`DEMO_CONFIG` shrunk to train on
    :func:`make_tiny_data`'s clips on a CPU in seconds.

    Args:
        path (str): The config file to write.
        data_root (str): The video dataset.
        epochs (int): Epochs; validation and checkpoint at the end.
        batch (int): Batch size (video and image phases).
        lr (float): The SGD learning rate (video-only recipe).
        image_root (str, optional): A still-image set
            (:func:`make_image_set`): adds the alternating image phase and
            the paper's per-phase optimizer groups.

    Returns:
        str: ``path``.
    """
    text = TINY_TRAIN_TEMPLATE.format(demo=DEMO_CONFIG, data=data_root,
                                      epochs=epochs, batch=batch, lr=lr)
    if image_root is not None:
        text += TINY_TRAIN_IMAGES.format(images=image_root, batch=batch)
    with open(path, 'w') as f:
        f.write(text)
    return path


# ------------------------------------------ the authors' checkpoint layout

#: the authors' PDNet state dict layouts (key, shape, dtype per line) and
#: one reference forward of their PDNet-R50 (tests/data/authors_checkpoint)
AUTHORS_DATA = osp.join(ROOT, 'tests', 'data', 'authors_checkpoint')


def authors_layout(depth: int = 50) -> list:
    """Every key of the authors' ``PDNet('resnet<depth>').state_dict()``.

    Args:
        depth (int): 50 or 101.

    Returns:
        list[tuple]: ``(key, shape, dtype)`` in their order.
    """
    rows = []
    with open(osp.join(AUTHORS_DATA, f'keys_r{depth}.tsv')) as f:
        next(f)  # header
        for line in f:
            key, shape, dtype = line.rstrip('\n').split('\t')
            shape = () if shape == 'scalar' else tuple(
                int(n) for n in shape.split('x'))
            rows.append((key, shape, getattr(torch, dtype)))
    return rows


def authors_weights(depth: int = 50, generator=None) -> dict:
    """Weights in the authors' layout, drawn as the reference forward's.

    One generator (seed 0 unless given), the keys in their order:
    ``num_batches_tracked`` zeros (no draw), ``running_var`` U(0.75, 1.25),
    BN gamma U(0.6, 1.0), ``running_mean`` and biases N(0, 0.1^2), conv
    weights N(0, 2 / fan_in). The logits of the authors' model on them are
    of order 100 and depend on the reference frame.

    Args:
        depth (int): 50 or 101.
        generator (torch.Generator, optional): Continues to draw from it
            (the reference frames are drawn after the weights).

    Returns:
        OrderedDict: The state dict.
    """
    g = generator if generator is not None else \
        torch.Generator().manual_seed(0)
    state = OrderedDict()
    for key, shape, dtype in authors_layout(depth):
        if dtype == torch.int64:
            value = torch.zeros(shape, dtype=dtype)
        elif key.endswith('running_var'):
            value = torch.rand(shape, generator=g) * 0.5 + 0.75
        elif key.endswith('.weight') and len(shape) == 1:
            value = torch.rand(shape, generator=g) * 0.4 + 0.6
        elif key.endswith(('running_mean', '.bias')):
            value = torch.randn(shape, generator=g) * 0.1
        else:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=g) * math.sqrt(2 / fan_in)
        state[key] = value
    return state


def build_inference_model(config: str):
    """The model of a shipped config for inference: no pretrained weights,
    no training losses (as the inferencer builds it), in eval mode."""
    cfg = Config.fromfile(config).model
    cfg.backbone.backbone.init_cfg = None
    cfg.part_loss = None
    return MODELS.build(cfg).eval()
