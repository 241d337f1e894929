"""mmseg_pdnet: PDNet for video portrait segmentation, an MMSeg 1.x plugin.

Importing this package registers every module of the plugin into the
MMSegmentation / MMEngine registries and makes MMEngine checkpoints loadable
under torch >= 2.6 (see :mod:`mmseg_pdnet.utils.checkpoint`).
"""
from .version import __version__  # noqa: F401
from . import utils  # noqa: F401  (safe-load allow-list first)
from . import apis, datasets, engine, evaluation, models  # noqa: F401,E402
