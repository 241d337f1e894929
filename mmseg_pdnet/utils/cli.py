# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Checks shared by the command-line tools (``tools/*.py``).

Every check raises :class:`CLIError`, whose message is ONE line naming the
argument (or file) and what is wrong with it; the tools print it as
``<tool>: error: <message>`` and exit with a non-zero status instead of
showing a traceback. :class:`CLIError` is a :class:`ValueError`, so the
tools' existing ``except ValueError`` handlers catch it too.
"""
import argparse
import difflib
import inspect
import os
import os.path as osp
import tempfile
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .file_types import IMAGE_SUFFIXES, VIDEO_SUFFIXES

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

    Besides parsing, a few mistakes that MMEngine would accept silently
    or report with a traceback are refused by :func:`check_config_keys`:
    an empty config, a top-level key that is a near miss of a runner
    setting (``max_epoch``: MMEngine ignores unknown top-level keys) and
    a key of ``model`` (or of ``train_cfg`` / ``val_cfg`` / ``test_cfg``)
    that its registered class does not take (``model.decode_head.
    treshold``); the message names the key and the closest valid one.

    Args:
        path (str): The CONFIG argument.
        usage (str): The tool's argument order (see
            :func:`check_config_path`).

    Returns:
        Config: The parsed config.

    Raises:
        CLIError: see :func:`check_config_path`; or the file does not
            parse (syntax error, missing ``_base_``, ...): the message
            names it and gives the parser's reason; or
            :func:`check_config_keys` finds a mistake.
    """
    check_config_path(path, usage)
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # noqa: B902  any parse failure is the file's
        reason = ' '.join(str(e).split()) or type(e).__name__
        raise CLIError(f'{path}: not a readable config ({type(e).__name__}: '
                       f'{reason})')
    check_config_keys(cfg, path)
    return cfg


#: top-level keys configs commonly hold besides the runner's arguments
#: (helper variables of the OpenMMLab configs)
COMMON_CONFIG_KEYS = ('custom_imports', 'vis_backends', 'dataset_type',
                      'data_root', 'crop_size', 'norm_cfg', 'tta_model',
                      'tta_pipeline', 'train_pipeline', 'test_pipeline',
                      'img_scale', 'work_dir', 'model_wrapper_cfg')
#: settings of the training loop, suggested for near-miss top-level keys
LOOP_KEYS = ('max_epochs', 'max_iters', 'val_interval', 'val_begin')
#: sub-configs built by helpers that take keys of their own (build_norm_
#: layer pops ``requires_grad``, initialisers are another registry, ...)
_UNCHECKED_KEYS = frozenset(['norm_cfg', 'act_cfg', 'conv_cfg', 'init_cfg',
                             'dcn', 'plugins', 'train_cfg', 'test_cfg',
                             'upsample_cfg', 'pretrained'])


def _runner_keys() -> List[str]:
    from mmengine.runner import Runner
    params = inspect.signature(Runner.__init__).parameters
    return [k for k in params if k != 'self']


def init_arguments(cls: type) -> Optional[Tuple[str, ...]]:
    """The keyword arguments a class's ``__init__`` takes, following
    ``**kwargs`` up the MRO (a subclass passing them to its base).

    Args:
        cls (type): A registered class.

    Returns:
        tuple[str] | None: The argument names; None when any ``**kwargs``
        cannot be followed (the class then takes anything).
    """
    names: List[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object:
            return None  # **kwargs reached object: cannot tell
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        names += [n for n, p in params.items() if n != 'self' and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return tuple(names)
    return None


def _typed_dicts(node, prefix: str) -> Iterator[Tuple[str, dict]]:
    """``(dotted path, dict)`` of every dict with a ``type`` under
    ``node``, not descending into :data:`_UNCHECKED_KEYS`."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield prefix, node
        for key, value in node.items():
            if key not in _UNCHECKED_KEYS:
                yield from _typed_dicts(value, f'{prefix}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _typed_dicts(value, f'{prefix}[{i}]')


def _unknown_keys(path: str, where: str, cfg: dict, cls: type,
                  given: Sequence[str] = ()) -> None:
    allowed = init_arguments(cls)
    if allowed is None:
        return
    allowed = set(allowed) - set(given)
    for key in cfg:
        if key in ('type', '_scope_') or key in allowed:
            continue
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise CLIError(f'{path}: {where}.{key}: {cls.__name__} takes no '
                       f'argument {key!r}{hint}')


def _setting(cfg: Config, dotted: str):
    """``cfg['a.b']`` or None."""
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, (dict, Config)) or part not in node:
            return None
        node = node[part]
    return node


def check_config_keys(cfg: Config, path: str) -> None:
    """Refuse config mistakes that would otherwise be silent or end in a
    traceback (see :func:`load_config`).

    Args:
        cfg (Config): The parsed config.
        path (str): Its file, named in the message.

    Raises:
        CLIError: an empty config; a top-level key that is not a runner
            setting but a near miss of one (or of a training-loop
            setting); a key of ``model`` or of a loop config that its
            registered class does not take.
    """
    keys = [k for k in cfg.keys() if not k.startswith('_')]
    if not keys:
        raise CLIError(f'{path}: config is empty (no model, datasets or '
                       'schedule)')
    runner = _runner_keys()
    known = set(runner) | set(COMMON_CONFIG_KEYS)
    suggestions = {k: k for k in runner}
    suggestions.update({k: f'train_cfg.{k}' for k in LOOP_KEYS})
    for key in keys:
        if key in known or key in LOOP_KEYS:  # max_epochs = 5: a variable
            continue
        close = difflib.get_close_matches(key, list(suggestions), n=1,
                                          cutoff=0.85)
        # a helper variable holds the value of the setting it resembles
        # (max_epoch = 5; train_cfg = dict(max_epochs=max_epoch)): only a
        # near miss whose value did not reach that setting is a typo
        if close and _setting(cfg, suggestions[close[0]]) != cfg[key]:
            raise CLIError(
                f'{path}: top-level key {key!r} is not a runner setting '
                f'(did you mean {suggestions[close[0]]}?); MMEngine would '
                'ignore it')
    try:
        from mmengine.registry import init_default_scope
        from mmseg.registry import LOOPS, MODELS
        init_default_scope(cfg.get('default_scope', 'mmseg') or 'mmseg')
    except Exception:  # noqa: B902  no registry: nothing to check against
        return
    if isinstance(cfg.get('model'), dict):
        for where, node in _typed_dicts(cfg.model.to_dict() if hasattr(
                cfg.model, 'to_dict') else cfg.model, 'model'):
            try:
                cls = MODELS.get(node['type'])
            except Exception:  # noqa: B902  a lazy import failed
                cls = None
            if isinstance(cls, type):
                _unknown_keys(path, where, node, cls)
    for name in ('train_cfg', 'val_cfg', 'test_cfg'):
        loop = cfg.get(name)
        if not isinstance(loop, dict):
            continue
        loop_type = loop.get('type')
        if loop_type is None and name == 'train_cfg':
            loop_type = ('EpochBasedTrainLoop' if loop.get('by_epoch')
                         else 'IterBasedTrainLoop'
                         if 'max_iters' in loop else None)
            given = ('runner', 'dataloader', 'by_epoch')
        else:
            given = ('runner', 'dataloader', 'evaluator')
        if loop_type is None and name != 'train_cfg':
            loop_type = 'ValLoop' if name == 'val_cfg' else 'TestLoop'
        if not isinstance(loop_type, str):
            continue
        try:
            cls = LOOPS.get(loop_type)
        except Exception:  # noqa: B902
            cls = None
        if isinstance(cls, type):
            # by_epoch is the runner's shorthand for the loop type
            _unknown_keys(path, name, {k: v for k, v in loop.items()
                                       if k != 'by_epoch'}, cls,
                          given[:2])


_runs_in_process = 0


def name_repeated_run(cfg: Config, path: str) -> None:
    """Give the second and later runner of one process its own
    ``experiment_name``.

    MMEngine names a runner's logger and message hub
    ``<config>_<start time to the second>`` and hands an existing instance
    back for a name it knows: two runs of one config started within a
    second in one process (the tools' ``main`` called twice, as tests and
    scripts do) would share the first run's logger, whose log file, and so
    ``jf_results.json``, lies in the first run's work dir. The first run
    keeps MMEngine's name; each rank of a distributed run is its own
    process, so the ranks agree.

    Args:
        cfg (Config): The config, changed in place (unless it names an
            experiment itself).
        path (str): The config file.
    """
    global _runs_in_process
    _runs_in_process += 1
    if _runs_in_process > 1 and cfg.get('experiment_name') is None:
        stem = osp.splitext(osp.basename(path))[0]
        cfg.experiment_name = f'{stem}_run{_runs_in_process}'


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


def build_test_dataset(cfg: Config, data_root: Optional[str] = None):
    """The config's test set, built as ``tools/test.py`` sees it.

    Args:
        cfg (Config): The loaded config (changed in place by
            ``data_root``).
        data_root (str, optional): A ``--data-root`` that replaces the
            config's dataset folder.

    Returns:
        BaseDataset: ``cfg.test_dataloader.dataset``, built.

    Raises:
        CLIError: ``data_root`` is not a folder.
    """
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    from . import set_data_root
    if data_root is not None:
        if not osp.isdir(data_root):
            raise CLIError(f'--data-root {data_root}: no such folder')
        set_data_root(cfg, data_root)
    init_default_scope('mmseg')
    return DATASETS.build(cfg.test_dataloader.dataset)


def _existing_ancestor(path: str) -> str:
    """The nearest part of ``path`` (itself included) that exists."""
    current = osp.abspath(path)
    while not osp.exists(current):
        parent = osp.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _probe_folder(folder: str, flag: str, path: str) -> None:
    """Create (and remove) a file in ``folder``: the one test of
    writability that also holds for root, for whom ``os.access`` and the
    permission bits say yes to everything on a read-only mount."""
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-test-', dir=folder)
    except OSError as e:
        raise CLIError(f'{flag} {path}: cannot write in {folder} '
                       f'({e.strerror or type(e).__name__})') from None
    os.close(fd)
    os.remove(probe)


def check_output_file(path: str, flag: str,
                      suffixes: Optional[Sequence[str]] = None) -> str:
    """Check, before any work, that an output file can be written.

    Missing folders on the way are fine (the tools create them when they
    write, as ``--out`` does), but the nearest existing one must be a
    writable folder, and ``path`` itself must not be a folder. Nothing is
    created here.

    Args:
        path (str): The output file.
        flag (str): Its option (``'--json'``), for the message.
        suffixes (Sequence[str], optional): Accepted suffixes (lower
            case, with the dot), e.g. ``('.png',)``.

    Returns:
        str: ``path``.

    Raises:
        CLIError: one line naming the option, the path and the reason.
    """
    if suffixes and osp.splitext(path)[1].lower() not in suffixes:
        raise CLIError(f'{flag} {path}: expected a {"/".join(suffixes)} '
                       'file name')
    if osp.isdir(path):
        raise CLIError(f'{flag} {path}: is a folder; give a file name')
    if osp.exists(path):
        try:  # opening for writing does not change the file
            os.close(os.open(path, os.O_WRONLY))
        except OSError as e:
            raise CLIError(f'{flag} {path}: cannot be overwritten '
                           f'({e.strerror})') from None
        return path
    ancestor = _existing_ancestor(osp.dirname(osp.abspath(path)))
    if not osp.isdir(ancestor):
        raise CLIError(f'{flag} {path}: {ancestor} is a file, not a folder')
    _probe_folder(ancestor, flag, path)
    return path


def check_output_dir(path: str, flag: str) -> str:
    """Check, before any work, that an output folder can be written.

    The folder may be missing (it is created when the tool writes); the
    nearest existing part of it must be a writable folder.

    Args:
        path (str): The output folder.
        flag (str): Its option (``'--out-dir'``), for the message.

    Returns:
        str: ``path``.

    Raises:
        CLIError: one line naming the option, the path and the reason.
    """
    ancestor = _existing_ancestor(path)
    if not osp.isdir(ancestor):
        what = 'is a file' if ancestor == osp.abspath(path) else \
            f'{ancestor} is a file'
        raise CLIError(f'{flag} {path}: {what}, not a folder')
    _probe_folder(ancestor, flag, path)
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
