import pytest
import torch
from mmseg.utils import register_all_modules

import mmseg_pdnet  # noqa: F401  (registers the plugin)

register_all_modules(init_default_scope=True)
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
