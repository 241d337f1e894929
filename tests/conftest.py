import importlib.util
from pathlib import Path

import pytest
import torch
from mmseg.utils import register_all_modules

import mmseg_pdnet  # noqa: F401  (registers the plugin)

register_all_modules(init_default_scope=True)
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def load_tool():
    """Import a script of tools/ as a module, to call its main(argv)."""

    def load(rel_path):
        path = ROOT / 'tools' / rel_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
