# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Clear errors when ImageNet weights named by a config cannot be had.

The paper configs initialise the encoder from ``torchvision://resnet50``
(``model.backbone.backbone.init_cfg.checkpoint``) and the frozen extractor
of the semantic loss from ``torchvision://resnet18``
(``model.part_loss.semantic_extractor.checkpoint``). MMEngine resolves
``torchvision://`` through the ``torchvision`` package and downloads the
weights; without torchvision, or offline, it fails deep inside the runner.
The loaders registered here do the same loading and turn those failures
into one :class:`PretrainedWeightsUnavailable` that names the config keys
to point at local files.
"""
from mmengine.runner.checkpoint import (CheckpointLoader, load_from_http,
                                        load_from_torchvision)

CONFIG_KEYS = ('model.backbone.backbone.init_cfg.checkpoint',
               'model.part_loss.semantic_extractor.checkpoint')


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights named in a config could not be loaded."""


def _advice(filename: str) -> str:
    return (f'Download the weights on a machine with internet access and '
            f'point the config at the local .pth file(s): '
            f'--cfg-options {CONFIG_KEYS[0]}=/path/resnet50.pth '
            f'{CONFIG_KEYS[1]}=/path/resnet18.pth (whichever names '
            f'{filename!r}).')


@CheckpointLoader.register_scheme(prefixes='torchvision://', force=True)
def load_torchvision_weights(filename: str, map_location=None):
    """MMEngine's ``torchvision://`` loader with a clear failure message.

    Args:
        filename (str): ``torchvision://<model name>``.
        map_location (str, optional): As :func:`torch.load`.

    Returns:
        dict: The state dict.

    Raises:
        PretrainedWeightsUnavailable: torchvision is not installed, or the
            weights cannot be downloaded.
    """
    try:
        import torchvision  # noqa: F401
    except ImportError as e:
        raise PretrainedWeightsUnavailable(
            f'{filename} needs the torchvision package, which is not '
            f'installed or does not load with this torch ({e}). Install '
            f'the torchvision build matching your torch '
            f'(pip install -e ".[train]"), or: {_advice(filename)}') from e
    try:
        return load_from_torchvision(filename, map_location=map_location)
    except (OSError, RuntimeError) as e:  # URLError is an OSError
        raise PretrainedWeightsUnavailable(
            f'{filename}: the weights could not be downloaded ({e}). '
            f'{_advice(filename)}') from e


@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'),
                                  force=True)
def load_url_weights(filename: str, map_location=None):
    """MMEngine's URL loader with a clear failure message when offline."""
    try:
        return load_from_http(filename, map_location=map_location)
    except OSError as e:
        raise PretrainedWeightsUnavailable(
            f'{filename}: the weights could not be downloaded ({e}). '
            'Download them on a machine with internet access and set the '
            'config key that names this URL (e.g. '
            'model.backbone.backbone.init_cfg.checkpoint) to the local '
            'file.') from e
