"""A stand-in for mmcv's compiled ops, installed as ``mmcv/_ext.py``.

``tools/setup_env.sh`` installs mmcv 2.1.0 without its compiled ops by
default: PDNet runs none of them, and compiling them takes 6 to 13 minutes
on 2 cores. MMSeg still imports ``mmcv.ops`` when it is imported, and
mmcv's ``ext_loader.load_ext`` asserts that ``mmcv._ext`` has each
function of every op. The setup copies this file there: every public name
exists, as a function that raises :class:`MMCVOpNotCompiled` with one line
naming the op and the switch that builds the real ones. The compiled
``mmcv/_ext*.so`` takes precedence over this file when both are present.

Only the standard library: this module is imported while ``mmcv.ops`` is
being imported, before MMSeg or this package exist.
"""
import sys

#: the command that compiles mmcv's real ops into the environment
BUILD_OPS = 'PDNET_MMCV_OPS=1 make setup'
#: tells this stand-in from the real extension (``mmcv_ops_compiled``)
_PDNET_STANDIN = True


class MMCVOpNotCompiled(RuntimeError):
    """An mmcv op that needs mmcv's compiled extension was called.

    Args:
        func (str): The extension function, e.g. ``'deform_conv_forward'``.
        caller (str): The module that called it, e.g.
            ``'mmcv.ops.deform_conv'``.
    """

    def __init__(self, func: str, caller: str = ''):
        self.func = func
        where = f'{caller}.{func}' if caller else func
        super().__init__(
            f'mmcv op {where} is not compiled: this environment has mmcv '
            'without its compiled ops (PDNet needs none of them); build '
            f'them with `{BUILD_OPS}` (6-13 minutes on 2 cores)')


def _not_compiled(func: str):
    """The stand-in of the extension function ``func``."""

    def op(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get('__name__', '')
        raise MMCVOpNotCompiled(func, caller)

    op.__name__ = op.__qualname__ = func
    return op


def get_compiler_version() -> str:
    """What ``mmcv.ops.get_compiler_version`` reports (environment logs)."""
    return 'none (mmcv without compiled ops)'


def get_compiling_cuda_version() -> str:
    """What ``mmcv.ops.get_compiling_cuda_version`` reports."""
    return 'none (mmcv without compiled ops)'


def __getattr__(name: str):
    # Module attributes Python looks up (__path__, __spec__, ...) and
    # private names stay missing: only op names are stand-ins.
    if name.startswith('_'):
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    op = _not_compiled(name)
    globals()[name] = op
    return op
