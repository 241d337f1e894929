# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Checks shared by the command-line tools (``tools/*.py``).

Every check raises :class:`CLIError`, whose message is ONE line naming the
argument (or file) and what is wrong with it; the tools print it as
``<tool>: error: <message>`` and exit with a non-zero status instead of
showing a traceback. :class:`CLIError` is a :class:`ValueError`, so the
tools' existing ``except ValueError`` handlers catch it too.
"""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config

#: suffixes ``mmengine.Config.fromfile`` reads
CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')
#: suffixes of files that are checkpoints, not configs
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.bin', '.safetensors',
                       '.pkl', '.tar')


class CLIError(ValueError):
    """A command-line argument cannot be used; ``str(error)`` is one line
    that names the argument or file and the problem."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """``--help`` with the defaults shown and the description kept as
    written (the tools' docstrings hold examples).

    ``(default: ...)`` is added only to options with a meaningful default:
    ``None`` (unset) and ``False`` (a switch that is off) are left out,
    they would only add noise.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ''
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """``type=`` of an argparse option that must be an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got '
                                         f'{text!r}')
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got '
                                         f'{value}')
    return value


def positive_float(text: str) -> float:
    """``type=`` of an argparse option that must be a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number > 0, got '
                                         f'{text!r}')
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f'expected a number > 0, got '
                                         f'{value}')
    return value


def check_device(device: Optional[str], flag: str = '--device') -> None:
    """Check that a ``--device`` value names a device this machine has.

    Without the check, ``--device cuda`` on a machine without CUDA fails
    deep inside PyTorch (``Torch not compiled with CUDA enabled``) with a
    long traceback, after the model was built.

    Args:
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``,
            ``'mps'``, ... None (the tool's automatic choice) is accepted.
        flag (str): The option's name, for the message. Defaults to
            ``'--device'``.

    Raises:
        CLIError: the value is not a device, or the device is not
            available (the message says why and what to use instead).
    """
    if device is None:
        return
    import torch  # only the tools that take --device pay for the import
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise CLIError(f'{flag} {device!r}: not a device (expected cpu, '
                       'cuda, cuda:N, ...)')
    if dev.type == 'cpu':
        return
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            why = ('this PyTorch is built without CUDA'
                   if torch.version.cuda is None else
                   'PyTorch finds no CUDA GPU (driver, CUDA_VISIBLE_DEVICES?)')
            raise CLIError(f'{flag} {device}: CUDA is not available ({why}); '
                           f'use {flag} cpu')
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise CLIError(f'{flag} {device}: this machine has {count} CUDA '
                           f'device(s): cuda:0 to cuda:{count - 1}')
        return
    if dev.type == 'mps':
        available = torch.backends.mps.is_available()
    else:  # xpu, npu, ...: the backends that register a torch.<type>
        backend = getattr(torch, dev.type, None)
        available = bool(getattr(backend, 'is_available', lambda: False)())
    if not available:
        raise CLIError(f'{flag} {device}: {dev.type} is not available on '
                       f'this machine; use {flag} cpu')


def _what(path: str) -> str:
    """What a path that is not a config looks like, for the message."""
    # imported here: the tools check their arguments before the heavy
    # imports of the data and video modules
    from ..apis.video_io import VIDEO_SUFFIXES
    from ..datasets.image_io import IMAGE_SUFFIXES
    ext = osp.splitext(path)[1].lower()
    if osp.isdir(path):
        return 'a folder'
    if ext in CHECKPOINT_SUFFIXES:
        return 'a checkpoint'
    if ext in VIDEO_SUFFIXES:
        return 'a video'
    if ext in IMAGE_SUFFIXES:
        return 'an image'
    return f'a {ext} file' if ext else 'a file without suffix'


def check_config_path(path: str, usage: str) -> str:
    """Check that ``path`` can be a config file (before parsing it).

    Args:
        path (str): The CONFIG argument.
        usage (str): The tool's argument order, e.g.
            ``'test.py CONFIG CHECKPOINT [options]'``: a file of another
            kind usually means the arguments are in the wrong order.

    Returns:
        str: ``path``.

    Raises:
        CLIError: not a config suffix (the message says what the file
            looks like and gives ``usage``), or no such file.
    """
    if osp.isdir(path) or osp.splitext(path)[1].lower() not in \
            CONFIG_SUFFIXES:
        swapped = ' (arguments in the wrong order?)' if osp.exists(path) \
            else ''
        raise CLIError(f'{path}: not a config file (.py/.json/.yaml/.yml) '
                       f'but {_what(path)}{swapped}; usage: {usage}')
    if not osp.isfile(path):
        raise CLIError(f'{path}: config file does not exist; usage: {usage}')
    return path


def load_config(path: str, usage: str) -> Config:
    """Read a config file, with one-line errors.

    Args:
        path (str): The CONFIG argument.
        usage (str): The tool's argument order (see
            :func:`check_config_path`).

    Returns:
        Config: The parsed config.

    Raises:
        CLIError: see :func:`check_config_path`; or the file does not
            parse (syntax error, missing ``_base_``, ...): the message
            names it and gives the parser's reason.
    """
    check_config_path(path, usage)
    try:
        return Config.fromfile(path)
    except Exception as e:  # noqa: B902  any parse failure is the file's
        reason = ' '.join(str(e).split()) or type(e).__name__
        raise CLIError(f'{path}: not a readable config ({type(e).__name__}: '
                       f'{reason})')


def check_checkpoint_path(path: str, usage: str) -> str:
    """Check that a CHECKPOINT argument is an existing checkpoint file.

    Args:
        path (str): The CHECKPOINT argument.
        usage (str): The tool's argument order (see
            :func:`check_config_path`).

    Returns:
        str: ``path``.

    Raises:
        CLIError: the path is a config file or a folder (arguments in the
            wrong order?), or does not exist.
    """
    if osp.splitext(path)[1].lower() in CONFIG_SUFFIXES or osp.isdir(path):
        raise CLIError(f'{path}: not a checkpoint but '
                       f'{"a folder" if osp.isdir(path) else "a config file"}'
                       f' (arguments in the wrong order?); usage: {usage}')
    if not osp.isfile(path):
        raise CLIError(f'{path}: checkpoint does not exist')
    return path


def add_launcher_arguments(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` and ``--local-rank``, as MMSeg's train/test tools.

    Args:
        parser (ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by the distributed launcher (torchrun '
                        'sets LOCAL_RANK instead)')


def export_local_rank(args: argparse.Namespace) -> argparse.Namespace:
    """Put ``--local-rank`` into ``LOCAL_RANK`` unless the launcher did.

    Args:
        args (Namespace): Parsed arguments of
            :func:`add_launcher_arguments`.

    Returns:
        Namespace: ``args``.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
