import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
