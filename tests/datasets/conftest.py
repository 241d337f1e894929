import pytest

from tests.helpers import make_tiny_data


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A tiny demo dataset: 2 train + 1 test clips of 4-6 frames, 64x96."""
    root = tmp_path_factory.mktemp('demo')
    make_tiny_data(str(root), frames=(4, 6), seed=3)
    return root
