"""A model that calls an mmcv op this environment lacks (mmcv installed
without its compiled ops): tools/train.py, test.py and infer_video.py end
with one line naming the op and the switch that builds them, exit 1."""
import mmcv.ops.deform_conv as deform_conv
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_pdnet.models.decode_heads.pd_fusion_head import PDFusionHead
from mmseg_pdnet.utils import mmcv_ext_standin
from mmseg_pdnet.utils.mmcv_ops import BUILD_OPS, mmcv_ops_compiled
from tests.helpers import (build_model, make_tiny_data,
                           write_tiny_config, write_tiny_model_config)
from tests.tools.test_infer_video import frame_folder

HEAD = 'OpCallingFusionHead'
#: the line's start: the op, as the stand-in names it
OP = 'mmcv op mmcv.ops.deform_conv.deform_conv_forward is not compiled: '


class OpCallingFusionHead(PDFusionHead):
    """PDFusionHead that first runs a deformable convolution (an mmcv op
    with no PyTorch fallback) on one channel of its input."""

    def forward(self, inputs):
        x = inputs[0][:, :1]
        b, _, h, w = x.shape
        # an autograd Function: stride, padding, dilation, groups,
        # deform_groups, bias, im2col_step positionally
        deform_conv.deform_conv2d(x, x.new_zeros(b, 18, h, w),
                                  x.new_ones(1, 1, 3, 3), 1, 1, 1, 1, 1,
                                  False, 32)
        return super().forward(inputs)


@pytest.fixture(autouse=True)
def op_calling_head(monkeypatch):
    """Register the head for this test only; with mmcv's compiled ops
    installed, its op calls the stand-in (the class the tools catch)."""
    MODELS.register_module(name=HEAD, module=OpCallingFusionHead)
    if mmcv_ops_compiled():
        monkeypatch.setattr(deform_conv, 'ext_module', mmcv_ext_standin)
    yield
    MODELS._module_dict.pop(HEAD)


def assert_one_line(message, tool):
    assert isinstance(message, str) and '\n' not in message
    assert message.startswith(f'{tool}: error: {OP}')
    assert f'`{BUILD_OPS}`' in message and 'PDNET_MMCV_OPS=1' in message


@pytest.fixture
def op_cfg(tmp_path):
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                            batch=2)
    with open(cfg, 'a') as f:
        f.write(f"model['decode_head']['type'] = '{HEAD}'\n")
    return cfg


def test_train_and_test_name_the_op_in_one_line(tmp_path, op_cfg,
                                                load_tool):
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as err:  # a str code: exit status 1
        load_tool('train.py').main([op_cfg, '--work-dir', str(work)])
    assert_one_line(err.value.code, 'train.py')
    assert not list(work.glob('*.pth'))
    ckpt = tmp_path / 'op.pth'
    model = build_model(Config.fromfile(op_cfg).model)
    assert type(model.decode_head) is OpCallingFusionHead
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    with pytest.raises(SystemExit) as err:
        load_tool('test.py').main([op_cfg, str(ckpt), '--work-dir',
                                   str(tmp_path / 'test')])
    assert_one_line(err.value.code, 'test.py')


def test_infer_video_ends_the_whole_run_in_one_line(tmp_path, load_tool,
                                                    capsys,
                                                    tiny_model_files):
    cfg = write_tiny_model_config(tmp_path / 'op_model.py', input_size=64)
    op = Config.fromfile(cfg)
    op.model.decode_head.type = HEAD
    op.dump(cfg)
    clips = tmp_path / 'clips'
    clips.mkdir()
    for name in ('a', 'b'):
        frame_folder(clips / name, n=2)
    out = tmp_path / 'out'
    code = load_tool('infer_video.py').main(
        [f'{clips}/*', cfg, tiny_model_files[1], '--out', str(out),
         '--png'])
    err = capsys.readouterr().err
    assert code == 1
    # not one failure per input and a table: the run stops at the first
    errors = [line for line in err.splitlines() if 'error' in line]
    assert len(errors) == 1, err
    assert_one_line(errors[0], 'infer_video')
    assert errors[0].endswith('(no output written)')
    assert 'Traceback' not in err
    assert not out.exists() or not any(out.iterdir())
