"""mmcv without its compiled ops: the stand-in ``mmcv._ext`` that
tools/setup_env.sh installs, and :mod:`mmseg_pdnet.utils.mmcv_ops`."""
import importlib.util
import subprocess
import sys
import textwrap

import pytest
import torch

from mmseg_pdnet.utils import mmcv_ext_standin
from mmseg_pdnet.utils.mmcv_ops import (BUILD_OPS, MMCVOpNotCompiled,
                                        mmcv_ops_compiled)
from tests.helpers import ROOT

STANDIN = mmcv_ext_standin.__file__


def load_standin():
    """A fresh copy of the stand-in module, as the setup installs it."""
    spec = importlib.util.spec_from_file_location('standin_under_test',
                                                  STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_standin_has_every_op_and_each_raises_one_line():
    ext = load_standin()
    # mmcv's ext_loader.load_ext asserts hasattr for each op it loads
    for name in ('deform_conv_forward', 'nms', 'roi_align_forward'):
        assert hasattr(ext, name)
    with pytest.raises(ext.MMCVOpNotCompiled) as err:
        ext.deform_conv_forward(torch.zeros(1))
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith(
        f'mmcv op {__name__}.deform_conv_forward is not compiled: ')
    assert message.endswith(f'build them with `{BUILD_OPS}` (6-13 minutes '
                            'on 2 cores)')
    assert err.value.func == 'deform_conv_forward'
    assert isinstance(err.value, RuntimeError)
    # the environment report names what is missing instead of failing
    assert ext.get_compiler_version() == 'none (mmcv without compiled ops)'


def test_the_standin_keeps_module_attributes_missing():
    ext = load_standin()
    # a __path__ would make it a package; private names are no ops
    for name in ('__path__', '__wrapped__', '_secret'):
        assert not hasattr(ext, name)
    assert ext._PDNET_STANDIN is True


def test_mmseg_imports_and_a_model_calling_an_op_gets_one_line():
    # whatever mmcv is installed: the stand-in takes mmcv._ext's place
    # before mmcv.ops loads its ops, as in an environment set up without
    # them
    script = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location('mmcv._ext',
                                                      {STANDIN!r})
        ext = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ext)
        sys.modules['mmcv._ext'] = ext
        import torch
        import mmseg.models  # noqa: F401  (imports mmcv.ops)
        import mmseg_pdnet
        from mmcv.ops import DeformConv2d
        from mmseg_pdnet.utils.mmcv_ops import (MMCVOpNotCompiled,
                                                mmcv_ops_compiled)
        assert not mmcv_ops_compiled()
        conv = DeformConv2d(4, 4, 3, padding=1)
        try:
            conv(torch.zeros(1, 4, 8, 8), torch.zeros(1, 18, 8, 8))
        except MMCVOpNotCompiled as e:
            print(e)
        """)
    proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'mmcv op mmcv.ops.deform_conv.deform_conv_forward is not compiled: '
        'this environment has mmcv without its compiled ops (PDNet needs '
        f'none of them); build them with `{BUILD_OPS}` (6-13 minutes on 2 '
        'cores)'
    ]


def test_the_installed_mmcv_ops_match_mmcv_ops_compiled():
    import mmcv._ext
    from mmcv.ops import DeformConv2d
    conv = DeformConv2d(4, 4, 3, padding=1)
    x, offset = torch.rand(1, 4, 8, 8), torch.zeros(1, 18, 8, 8)
    if mmcv_ops_compiled():  # PDNET_MMCV_OPS=1 make setup
        assert not mmcv._ext.__file__.endswith('.py')
        assert conv(x, offset).shape == (1, 4, 8, 8)
        return
    # the setup's copy of the current stand-in, and the class the tools
    # catch is the one it raises
    with open(mmcv._ext.__file__) as installed, open(STANDIN) as ours:
        assert installed.read() == ours.read(), (
            f'{mmcv._ext.__file__} is not {STANDIN}: run `make setup`')
    with pytest.raises(MMCVOpNotCompiled, match='deform_conv_forward'):
        conv(x, offset)
