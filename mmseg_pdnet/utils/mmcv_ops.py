"""Whether mmcv's compiled ops are in this environment.

By default ``tools/setup_env.sh`` installs mmcv 2.1.0 without them (PDNet
runs none) and puts :mod:`mmseg_pdnet.utils.mmcv_ext_standin` in their
place, so that MMSeg imports; ``PDNET_MMCV_OPS=1 make setup`` compiles the
real ones. A model that calls one without them raises
:class:`MMCVOpNotCompiled`, whose message is one line naming the op and
that command: the tools print it without a traceback.
"""
import importlib

try:
    # the class the stand-in raises (the installed copy of the module)
    from mmcv._ext import MMCVOpNotCompiled
except ImportError:
    # the real extension (or none at all): nothing raises it, and the
    # tools' ``except MMCVOpNotCompiled`` catches nothing
    from .mmcv_ext_standin import MMCVOpNotCompiled

from .mmcv_ext_standin import BUILD_OPS


def mmcv_ops_compiled() -> bool:
    """Whether ``mmcv._ext`` is mmcv's compiled extension.

    Returns:
        bool: False for the stand-in and for an mmcv without any
        ``mmcv._ext`` (where ``import mmcv.ops`` fails).
    """
    try:
        ext = importlib.import_module('mmcv._ext')
    except ImportError:
        return False
    return not getattr(ext, '_PDNET_STANDIN', False)


__all__ = ['MMCVOpNotCompiled', 'BUILD_OPS', 'mmcv_ops_compiled']
