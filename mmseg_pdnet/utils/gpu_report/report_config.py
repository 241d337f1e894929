# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The config every section of the GPU report uses: the paper's, with the
pretrained downloads switched off (the report machine may be offline;
speed does not depend on the weights), written as one file so that the
subprocesses (``infer_video.py``, ``train.py``) read the same model."""
from typing import Iterator

from mmengine.config import Config

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _config_dicts(node) -> Iterator[dict]:
    """Every dict under ``node`` (a config value), ``node`` included,
    through nested dicts, lists and tuples."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _config_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _config_dicts(value)


def write_report_config(src: str, dst: str, size: int, workers: int,
                        model_options: dict,
                        serialize_data: bool = True) -> str:
    """Write the report's copy of a training config.

    Args:
        src (str): The config (the paper's, in the report).
        dst (str): The file to write (``.py``).
        size (int): The network input of every pipeline (``PairedResize``
            scale: 480 in the paper config).
        workers (int): Data loader workers of every loader.
        model_options (dict): Changes of ``model`` (keys without the
            ``model.`` prefix), e.g. a smaller encoder.
        serialize_data (bool): False sets every dataset's
            ``serialize_data`` to False (no packing and ``gc.collect()``
            per dataset). Defaults to True: the config's own.

    Returns:
        str: ``dst``.
    """
    cfg = Config.fromfile(src)
    cfg.merge_from_dict({f'model.{k}': v for k, v in model_options.items()})
    cfg.model.backbone.backbone.init_cfg = None
    if cfg.model.get('part_loss') and \
            cfg.model.part_loss.get('semantic_extractor'):
        cfg.model.part_loss.semantic_extractor.checkpoint = None
    loaders = [cfg[k] for k in LOADERS if cfg.get(k)]
    image_loader = cfg.train_cfg.get('image_dataloader')
    if image_loader:
        loaders.append(image_loader)
    for loader in loaders:
        loader['num_workers'] = workers
        loader['persistent_workers'] = workers > 0
        for node in _config_dicts(loader):
            if node.get('type') == 'PairedResize':
                node['scale'] = size
            elif not serialize_data and 'pipeline' in node \
                    and 'type' in node:  # a dataset
                node['serialize_data'] = False
    cfg.default_hooks.logger.interval = 10
    cfg.dump(dst)
    return dst
