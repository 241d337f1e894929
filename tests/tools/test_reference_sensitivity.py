"""tools/analysis_tools/reference_sensitivity.py and segment_pair."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.datasets.image_io import read_frame
from mmseg_pdnet.datasets.synthetic import make_demo_dataset
from tests.helpers import build_model, write_tiny_config

TOOL = 'analysis_tools/reference_sensitivity.py'


def _files(tmp_path, test_clips=2, **model):
    data = str(tmp_path / 'data')
    make_demo_dataset(data, seed=2, train_clips=1, test_clips=test_clips,
                      min_frames=3, max_frames=3, height=64, width=96)
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data)
    if model:
        with open(cfg, 'a') as f:
            f.write(f'model.update({model!r})\n')
    torch.manual_seed(0)
    net = build_model(Config.fromfile(cfg).model)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': net.state_dict(), 'meta': {}}, ckpt)
    return cfg, ckpt, data


def test_own_reference_row_is_what_tools_test_reports(tmp_path, load_tool,
                                                      capsys):
    cfg, ckpt, _ = _files(tmp_path)
    out = str(tmp_path / 'sens.json')
    assert load_tool(TOOL).main([cfg, ckpt, '--json', out]) == 0
    table = json.load(open(out))
    assert list(table) == ['reference', 'other-clip', 'target', 'grey']
    printed = capsys.readouterr().out
    assert all(name in printed for name in table)

    load_tool('test.py').main([cfg, ckpt, '--work-dir',
                               str(tmp_path / 'test')])
    result = json.load(open(glob.glob(
        osp.join(tmp_path, 'test', '*', 'jf_results.json'))[0]))
    assert table['reference']['J&F'] == pytest.approx(
        100 * result['J&F'], abs=0.05)
    assert table['reference']['J'] == pytest.approx(
        100 * result['J']['mean'], abs=0.05)


def test_segment_pair_follows_the_given_reference(tmp_path):
    cfg, ckpt, data = _files(tmp_path)
    frames = [read_frame(p) for p in sorted(
        glob.glob(osp.join(data, 'Keyframes/480p/test_001/*.jpg')))]
    inferencer = VideoPortraitInferencer(cfg, ckpt, device='cpu')
    # against the clip's first frame: what the stream gives
    streamed = [r.prob for r in inferencer(frames)]
    for frame, prob in zip(frames, streamed):
        paired = inferencer.segment_pair(frame, frames[0])
        assert paired.shape == frame.shape[:2] and paired.dtype == np.float32
        np.testing.assert_allclose(paired, prob, atol=1e-6)
    # the reference reaches the output (random weights: probabilities
    # near 0.5, so any change counts; without IPDA they would be
    # bit-identical)
    grey = np.full_like(frames[0], 128)
    assert not np.array_equal(inferencer.segment_pair(frames[1], grey),
                              inferencer.segment_pair(frames[1], frames[0]))


def test_a_model_without_ipda_is_refused(tmp_path, load_tool, capsys):
    cfg, ckpt, _ = _files(tmp_path, use_ipda=False, neck=None,
                          part_loss=None)
    assert load_tool(TOOL).main([cfg, ckpt]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0
    assert f'{cfg}: the model has no IPDA' in err


def test_other_clip_needs_two_clips(tmp_path, load_tool, capsys):
    cfg, ckpt, _ = _files(tmp_path, test_clips=1)
    assert load_tool(TOOL).main([cfg, ckpt]) == 1
    assert 'other-clip needs at least two test clips, the test set has 1' \
        in capsys.readouterr().err
