"""tools/model_converters/pdnet2mmseg.py, and the tools that take the
authors' checkpoint as it is (converted in memory)."""
import glob
import hashlib
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmseg_pdnet.utils import load_state_dict_checked
from mmseg_pdnet.utils.authors_checkpoint import mmseg_to_authors
from tests.helpers import (authors_weights, build_inference_model,
                           config_path, make_tiny_data, write_tiny_config)

R50_CONFIG = config_path('pdnet_r50_2xb2-60e_mvps-480x480.py')


@pytest.fixture
def convert(run_tool):
    return run_tool('model_converters/pdnet2mmseg.py')


def _authors_file(path, weights, basis=None, **extra) -> str:
    """A checkpoint as the authors' training script saves it."""
    checkpoint = dict(epoch=59, model=weights, optim=dict(state={}), **extra)
    if basis is not None:
        checkpoint['part_basis_generator'] = dict(w=basis)
    torch.save(checkpoint, path)
    return str(path)


def test_converts_r50_to_a_strictly_loading_checkpoint_and_back(
        tmp_path, convert):
    weights, basis = authors_weights(50), torch.rand(5, 512)
    src = _authors_file(tmp_path / 'pdnet_r50.pth', weights, basis)
    dst = tmp_path / 'out' / 'pdnet_r50_mmseg.pth'
    code, io = convert(src, dst)
    assert code == 0, io.err
    assert f"{src}: the authors' PDNet-R50 (p = 5) (iCVTEAM/PDNet layout)" \
        in io.out
    # what was mapped, one line per module family
    for line in (r'bkbone\.\* +\(318\) -> backbone\.backbone\.\* \(318\)',
                 r'ipda\.part_sep_conv\.\* +\( 90\) -> neck\.part_branches'
                 r'\.\* \(18\)',
                 r'spatiotemporal_fusion\.\* +\( 19\) -> decode_head\.fusion'
                 r'\.\* \(19\)'):
        assert re.search(f'^  {line}$', io.out, re.M), io.out
    assert f'wrote {dst}: 451 tensors, loads strictly into ' \
        'configs/pdnet/pdnet_r50_2xb2-60e_mvps-480x480.py' in io.out
    checkpoint = torch.load(dst)  # weights_only: nothing but tensors
    assert set(checkpoint) == {'state_dict', 'meta'}
    with open(src, 'rb') as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    assert checkpoint['meta']['source_sha256'] == sha256
    assert checkpoint['meta']['depth'] == 50
    assert torch.equal(checkpoint['state_dict']['part_loss.basis'], basis)
    model = build_inference_model(R50_CONFIG)
    load_state_dict_checked(model, str(dst), config=R50_CONFIG)

    back = tmp_path / 'authors_again.pth'
    code, io = convert('--reverse', dst, back)
    assert code == 0, io.err
    assert f"wrote {back}: the authors' layout (iCVTEAM/PDNet) of a " \
        'PDNet-R50 (p = 5), 558 tensors + the part basis' in io.out
    again = torch.load(back)
    assert list(again['model']) == list(weights)
    assert all(torch.equal(again['model'][k], v) for k, v in weights.items())
    assert torch.equal(again['part_basis_generator']['w'], basis)


def test_errors_are_one_line(tmp_path, convert):
    r101 = _authors_file(tmp_path / 'r101.pth', authors_weights(101))
    resnet = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1), 'fc.bias': torch.zeros(1)},
               resnet)
    ours = tmp_path / 'ours.pth'
    torch.save(dict(state_dict=build_inference_model(R50_CONFIG).state_dict(),
                    meta={}), ours)
    incomplete = authors_weights(50)
    del incomplete['head_4.bias']
    incomplete = _authors_file(tmp_path / 'incomplete.pth', incomplete)
    missing = tmp_path / 'nope.pth'
    cases = [
        ((incomplete, tmp_path / 'a.pth'),
         f"{incomplete}: 1 key(s) of the authors' PDNet-R50 (p = 5) missing "
         "(e.g. 'head_4.bias')"),
        ((r101, tmp_path / 'a.pth', '--config', R50_CONFIG),
         f'{r101}: checkpoint does not match {R50_CONFIG} (a ResNet-101 '
         'checkpoint, a ResNet-50 model: use the R101 config): '),
        ((resnet, tmp_path / 'b.pth'),
         "resnet.pth: not a PDNet checkpoint of the authors' layout (no "
         "bkbone.* and ipda.* weights; first key: 'conv1.weight')"),
        ((ours, tmp_path / 'c.pth'),
         f"{ours}: already in this package's layout"),
        (('--reverse', r101, tmp_path / 'd.pth'),
         f"{r101}: already in the authors' layout"),
        ((missing, tmp_path / 'e.pth'),
         f'{missing}: checkpoint does not exist'),
        ((r101, r101), f'{r101}: DST is SRC'),
    ]
    for args, message in cases:
        code, io = convert(*args)
        assert code == 1
        assert io.err.startswith(f'pdnet2mmseg: error: {message}'), io.err
        assert io.err.count('\n') == 1
    assert not glob.glob(str(tmp_path / '[a-e].pth'))


def test_r101_picks_the_r101_config(tmp_path, convert):
    src = _authors_file(tmp_path / 'r101.pth', authors_weights(101))
    code, io = convert(src, tmp_path / 'r101_mmseg.pth')
    assert code == 0, io.err
    assert 'loads strictly into configs/pdnet/pdnet_r101_2xb2-60e_mvps-' \
        '480x480.py' in io.out
    assert 'no part_basis_generator in the file' in io.out


# ----------------------------- the tools take the authors' file as it is


@pytest.fixture
def tiny_authors_file(tmp_path, tiny_model_files):
    """The tiny test model's weights in the authors' layout (ResNet-18,
    3 parts: the layout is the same, module for module)."""
    cfg, ckpt = tiny_model_files
    state = torch.load(ckpt)['state_dict']
    model, basis = mmseg_to_authors(state)
    return cfg, ckpt, _authors_file(tmp_path / 'authors.pth', model, basis)


def test_infer_video_takes_the_authors_file(tmp_path, load_tool, capsys,
                                            carphone, tiny_authors_file,
                                            monkeypatch):
    cfg, ckpt, authors = tiny_authors_file
    tool = load_tool('infer_video.py')
    from mmseg_pdnet.utils import authors_checkpoint
    messages = []  # MMLogger writes to the stdout it found when created
    monkeypatch.setattr(authors_checkpoint, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    outs = []
    for name, weights in (('ours', ckpt), ('authors', authors)):
        out = tmp_path / name
        code = tool.main([carphone, cfg, weights, '--out', str(out), '--png',
                          '--output-type', 'mask', '--max-frames', '3'])
        io = capsys.readouterr()
        assert code == 0, io.err
        outs.append(sorted(glob.glob(str(out / '*.png'))))
    assert len(messages) == 1 and messages[0].startswith(
        f"{authors}: the authors' PDNet-R18 (p = 3) checkpoint")
    assert len(outs[0]) == len(outs[1]) == 3
    for a, b in zip(*outs):
        np.testing.assert_array_equal(cv2.imread(a), cv2.imread(b))


def test_export_onnx_takes_the_authors_file(tmp_path, load_tool, capsys,
                                            tiny_authors_file):
    cfg, _, authors = tiny_authors_file
    tool = load_tool('deployment/export_onnx.py')
    code = tool.main([cfg, authors, '--out-dir', str(tmp_path / 'onnx')])
    io = capsys.readouterr()
    assert code == 0, io.err
    assert osp.isfile(tmp_path / 'onnx' / 'pdnet_target.onnx')


@pytest.fixture
def tiny_training(tmp_path, tiny_model_files):
    """A training config of the tiny model's architecture, and its model's
    weights saved in the authors' layout."""
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                            batch=4)
    from mmseg.registry import MODELS
    torch.manual_seed(3)
    state = MODELS.build(Config.fromfile(cfg).model).state_dict()
    model, basis = mmseg_to_authors(state)
    authors = _authors_file(tmp_path / 'authors.pth', model, basis)
    ours = tmp_path / 'ours.pth'
    torch.save(dict(state_dict=state, meta={}), ours)
    return cfg, str(ours), authors, state


def test_test_py_takes_the_authors_file(tmp_path, load_tool, tiny_training,
                                        monkeypatch):
    cfg, ours, authors, _ = tiny_training
    test = load_tool('test.py')
    # both runs start "in the same second", as on a fast machine: each
    # must still write its results into its own work dir
    import time
    from mmengine.runner import runner as mmengine_runner
    start = time.localtime()
    monkeypatch.setattr(mmengine_runner.time, 'localtime', lambda *a: start)
    results = []
    for name, weights in (('ours', ours), ('authors', authors)):
        work = str(tmp_path / name)
        test.main([cfg, weights, '--work-dir', work])
        path, = glob.glob(osp.join(work, '*', 'jf_results.json'))
        with open(path) as f:
            results.append(json.load(f))
    assert results[0] == results[1]


def test_load_from_takes_the_authors_file_and_resume_refuses_it(
        tmp_path, load_tool, tiny_training):
    cfg, _, authors, state = tiny_training
    train = load_tool('train.py')
    from mmengine.runner import Runner
    runner = Runner.from_cfg(train.build_cfg(train.parse_args(
        [cfg, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'load_from={authors}'])))
    runner.load_or_resume()
    loaded = runner.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with pytest.raises(SystemExit) as err:
        train.main([cfg, '--work-dir', str(tmp_path / 'work2'), '--resume',
                    authors])
    assert err.value.code == (
        f"train.py: error: {authors}: the authors' checkpoint holds weights, "
        'no MMEngine training state: start from it with load_from '
        '(--cfg-options load_from=...), it cannot be resumed')
