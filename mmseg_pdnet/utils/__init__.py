from typing import List, Sequence

from mmengine.config import Config

from .checkpoint import (CheckpointError, history_buffer_getattr,
                         load_checkpoint_file, load_state_dict_checked,
                         match_state_dict, register_safe_checkpoint_globals)
from .config_text import memoize_config_formatting
from .pretrained import PretrainedWeightsUnavailable

register_safe_checkpoint_globals()
memoize_config_formatting()

#: the dataloaders of video datasets that ``--data-root`` re-roots
VIDEO_DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _leaf_datasets(dataset) -> List[dict]:
    """Dataset configs under ``dataset``: the children of a
    ``ConcatDataset``, the dataset of a wrapper (``RepeatDataset``...)."""
    if not isinstance(dataset, dict):  # a built dataset: left as it is
        return []
    if 'datasets' in dataset:
        return [leaf for child in dataset['datasets']
                for leaf in _leaf_datasets(child)]
    if 'dataset' in dataset:
        return _leaf_datasets(dataset['dataset'])
    return [dataset]


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every video dataset of a config at ``data_root``.

    Sets ``data_root`` of the datasets of ``train_dataloader``,
    ``val_dataloader`` and ``test_dataloader`` (each child of a
    ``ConcatDataset``, the dataset inside a dataset wrapper) and the
    config's top-level ``data_root``. Unlike ``--cfg-options``, whose parser
    drops spaces, the path is kept as it is. The still-image sets of
    ``train_cfg.image_dataloader`` have their own roots: see
    :func:`set_image_data_roots`.

    Args:
        cfg (Config): The config, changed in place.
        data_root (str): The dataset folder.
    """
    for key in VIDEO_DATALOADERS:
        loader = cfg.get(key)
        if isinstance(loader, dict):
            for dataset in _leaf_datasets(loader.get('dataset')):
                dataset['data_root'] = data_root
    if 'data_root' in cfg:
        cfg.data_root = data_root


def set_image_data_roots(cfg: Config, roots: Sequence[str]) -> None:
    """Set the roots of the still-image sets of the alternating training.

    Args:
        cfg (Config): The config, changed in place.
        roots (Sequence[str]): One folder per dataset of
            ``train_cfg.image_dataloader``, in the config's order (e.g.
            EG1800, Supervisely, COCO-person in the paper configs).

    Raises:
        ValueError: the config has no image sets, or another number of
            them than ``roots``.
    """
    loader = (cfg.get('train_cfg') or {}).get('image_dataloader')
    datasets = _leaf_datasets(loader.get('dataset')) if isinstance(
        loader, dict) else []
    if len(datasets) != len(roots):
        current = [d.get('data_root') for d in datasets]
        raise ValueError(
            f'{len(roots)} image data root(s) given, but the config has '
            f'{len(datasets)} image dataset(s) in '
            f'train_cfg.image_dataloader (roots now: {current})')
    for dataset, root in zip(datasets, roots):
        dataset['data_root'] = root


__all__ = [
    'register_safe_checkpoint_globals', 'history_buffer_getattr',
    'PretrainedWeightsUnavailable', 'CheckpointError',
    'load_state_dict_checked', 'load_checkpoint_file', 'match_state_dict',
    'set_data_root', 'set_image_data_roots', 'memoize_config_formatting'
]
