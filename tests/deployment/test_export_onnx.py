import pytest
import torch

from tests.apis.conftest import tiny_model_files  # noqa: F401


def test_export_and_run_in_onnxruntime(load_tool, tmp_path, capsys,
                                       tiny_model_files):  # noqa: F811
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    out = tmp_path / 'onnx'
    code = tool.main([cfg, ckpt, '--out-dir', str(out), '--size', '64', '96',
                      '--verify'])
    io = capsys.readouterr()
    assert code == 0, io.err
    assert sorted(p.name for p in out.iterdir()) == [
        'pdnet_paired.onnx', 'pdnet_reference.onnx', 'pdnet_target.onnx']
    assert 'max abs difference' in io.out
    # dynamic height/width: another size runs and matches too
    model, _ = tool._load_model(cfg, ckpt)
    assert tool.verify(model.eval(), str(out), (96, 64)) <= 1e-4


def test_streaming_graphs_equal_the_paired_graph(load_tool, tmp_path,
                                                 tiny_model_files):  # noqa
    import numpy as np
    import onnxruntime as ort
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    model, _ = tool._load_model(cfg, ckpt)
    tool.export(model.eval(), str(tmp_path), (64, 64))
    run = {n: ort.InferenceSession(str(tmp_path / f'pdnet_{n}.onnx'))
           for n in ('reference', 'target', 'paired')}
    img, ref = (np.random.default_rng(i).standard_normal(
        (1, 3, 64, 64)).astype(np.float32) for i in (1, 2))
    key, value = run['reference'].run(None, {'ref': ref})
    prob = run['target'].run(None, {'img': img, 'key': key,
                                    'value': value})[0]
    paired = run['paired'].run(None, {'pair': np.concatenate([img, ref],
                                                             1)})[0]
    assert np.abs(prob - paired).max() <= 1e-4


def test_mismatched_checkpoint_is_a_clear_error(load_tool, tmp_path, capsys,
                                                tiny_model_files):  # noqa
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    state = torch.load(ckpt)['state_dict']
    state.pop('neck.part_head.weight')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    assert tool.main([cfg, str(bad), '--out-dir', str(tmp_path)]) == 1
    assert 'does not match' in capsys.readouterr().err
