import pytest

from mmseg_pdnet.datasets.synthetic import make_demo_dataset


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A tiny demo dataset: 2 train + 1 test clips of 4-6 frames, 64x96."""
    root = tmp_path_factory.mktemp('demo')
    make_demo_dataset(str(root), seed=3, train_clips=2, test_clips=1,
                      min_frames=4, max_frames=6, height=64, width=96)
    return root
