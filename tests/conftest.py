from pathlib import Path

import pytest
import torch
from mmseg.utils import register_all_modules

import mmseg_pdnet  # noqa: F401  (registers the plugin)
from tests.engine.tiny_config import import_tool

register_all_modules(init_default_scope=True)
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def load_tool():
    """Import a script of tools/ as a module, to call its main(argv)."""

    return import_tool
