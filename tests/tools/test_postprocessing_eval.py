"""tools/analysis_tools/postprocessing_eval.py on tiny generated clips."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmseg_pdnet.apis.guided_upsampling import GuidedUpsampler
from mmseg_pdnet.apis.temporal_filter import TemporalFilter
from mmseg_pdnet.datasets.synthetic import make_demo_dataset
from tests.helpers import build_model, write_tiny_config

TOOL = 'analysis_tools/postprocessing_eval.py'


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('postprocessing')
    data = str(tmp / 'data')
    # frames larger than the tiny model's 64x64 input, of odd width: the
    # upsampling has work to do
    make_demo_dataset(data, seed=3, train_clips=1, test_clips=2,
                      min_frames=4, max_frames=5, height=72, width=101)
    cfg = write_tiny_config(str(tmp / 'tiny.py'), data)
    torch.manual_seed(0)
    net = build_model(Config.fromfile(cfg).model)
    ckpt = str(tmp / 'tiny.pth')
    torch.save({'state_dict': net.state_dict(), 'meta': {}}, ckpt)
    return cfg, ckpt, tmp


def test_table_of_the_variants(files, run_tool):
    cfg, ckpt, tmp = files
    out = str(tmp / 'out' / 'post.json')
    code, captured = run_tool(TOOL)(cfg, ckpt, '--json', out)
    assert code == 0, captured.err
    result = json.load(open(out))
    table = result['table']
    assert list(table) == ['bilinear', 'bilinear+filter', 'guided',
                           'guided+filter']
    for row in table.values():
        assert list(row) == ['J', 'F', 'J&F', 'stability']
        assert all(0 <= v <= 100 for v in row.values())
        assert row['J&F'] == pytest.approx((row['J'] + row['F']) / 2)
    assert result['num_clips'] == 2
    assert result['frame_sizes'] == [[72, 101]]
    assert result['input_size'] == [64, 64]
    # the classes' defaults, as the inferencer would use them
    filt, guide = TemporalFilter(), GuidedUpsampler()
    assert result['temporal_filter'] == dict(
        momentum=filt.momentum, motion_threshold=filt.motion_threshold,
        motion_radius=filt.motion_radius)
    assert result['guided_upsampling'] == dict(
        radius=guide.radius, eps=guide.eps, color=guide.color)
    # the variants do differ (a random model is unsure everywhere)
    assert table['guided'] != table['bilinear']
    assert table['bilinear+filter'] != table['bilinear']
    printed = captured.out
    assert '2 clips' in printed and 'scored at 72x101' in printed
    assert all(name in printed for name in table)
    assert f'wrote {out}' in printed


def test_bilinear_row_is_what_tools_test_reports(files, run_tool):
    cfg, ckpt, tmp = files
    code, captured = run_tool(TOOL)(cfg, ckpt, '--variants', 'bilinear',
                                    '--json', tmp / 'bilinear.json')
    assert code == 0, captured.err
    row = json.load(open(tmp / 'bilinear.json'))['table']['bilinear']
    run_tool('test.py')(cfg, ckpt, '--work-dir', tmp / 'test')
    result = json.load(open(glob.glob(
        osp.join(tmp, 'test', '*', 'jf_results.json'))[0]))
    assert row['J&F'] == pytest.approx(100 * result['J&F'], abs=0.05)
    assert row['F'] == pytest.approx(100 * result['F']['mean'], abs=0.05)
    assert row['stability'] == pytest.approx(100 * result['stability'],
                                             abs=0.05)


def test_a_filter_without_momentum_changes_nothing(files, run_tool):
    cfg, ckpt, tmp = files
    out = str(tmp / 'identity.json')
    code, captured = run_tool(TOOL)(
        cfg, ckpt, '--variants', 'bilinear', 'bilinear+filter',
        '--filter-momentum', '0', '--json', out)
    assert code == 0, captured.err
    table = json.load(open(out))['table']
    assert table['bilinear+filter'] == table['bilinear']


def test_bad_arguments_give_one_line(files, run_tool):
    cfg, ckpt, tmp = files
    code, captured = run_tool(TOOL)(cfg, ckpt, '--filter-momentum', '1')
    assert code == 1
    err = captured.err.strip()
    assert err == ('postprocessing_eval: error: temporal filter: momentum '
                   'must be in [0, 1), got 1.0')
    code, captured = run_tool(TOOL)(ckpt, cfg)
    assert code == 1 and 'arguments in the wrong order?' in captured.err
    empty = tmp / 'no_data'
    empty.mkdir(exist_ok=True)
    code, captured = run_tool(TOOL)(cfg, ckpt, '--data-root', empty)
    assert code == 1 and captured.err.count('\n') == 1
    assert 'ImageSets/val.txt: split file does not exist' in captured.err
    code, captured = run_tool(TOOL)(
        cfg, ckpt, '--cfg-options',
        'test_dataloader.dataset.ref_strategy=random')
    assert code == 1
    assert "the test set does not take the clip's first frame" in \
        captured.err
