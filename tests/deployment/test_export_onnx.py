import pytest
import torch


def test_export_and_run_in_onnxruntime(load_tool, tmp_path, capsys,
                                       tiny_model_files):
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
                                                 tiny_model_files):
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
                                                tiny_model_files):
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    state = torch.load(ckpt)['state_dict']
    state.pop('neck.part_head.weight')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    assert tool.main([cfg, str(bad), '--out-dir', str(tmp_path)]) == 1
    assert 'does not match' in capsys.readouterr().err


def test_default_size_and_preprocessing_metadata(load_tool, tmp_path, capsys,
                                                 tiny_model_files):
    """No --size: the config's test size (PairedResize scale=64), stored
    with the whole preprocessing in every graph's metadata_props."""
    import onnx
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    out = tmp_path / 'onnx'
    code = tool.main([cfg, ckpt, '--out-dir', str(out)])
    io = capsys.readouterr()
    assert code == 0, io.err
    assert 'input: (1, 3, 64, 64) float32 NCHW (H, W dynamic)' in io.out
    for name in tool.GRAPHS:
        model = onnx.load(str(out / name))
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta['input_size'] == '64,64'
        assert meta['mean'] == '123.675,116.28,103.53'
        assert meta['std'] == '58.395,57.12,57.375'
        assert (meta['channel_order'], meta['layout'], meta['dtype']) == (
            'RGB', 'NCHW', 'float32')
        assert meta['config'] == 'tiny_pdnet.py'
        assert meta['preprocessing'] == (
            'decode to 8-bit BGR; resize to 64x64 (HxW, bilinear '
            '(cv2.INTER_LINEAR) on the 8-bit frame, aspect ratio not kept); '
            'BGR->RGB; float32; '
            '(x - mean) / std with mean=123.675,116.28,103.53 '
            'std=58.395,57.12,57.375 (RGB order, 0-255 values); HWC->CHW; '
            'add batch axis -> (1, 3, H, W)')
    # the graphs' example size is the config's
    img = onnx.load(str(out / 'pdnet_paired.onnx')).graph.input[0]
    assert img.name == 'pair'
    # --help states the preprocessing too
    text = tool.build_parser().format_help()
    assert 'BGR -> RGB' in text and '(x - mean) / std' in text


def test_metadata_says_when_frames_are_resized_in_float(
        load_tool, tmp_path, capsys, tiny_model_files):
    """The paper configs resize float32 frames (the authors' input): the
    deployed graph's contract must say so."""
    import onnx
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    float_cfg = tmp_path / 'float_resize.py'
    float_cfg.write_text(
        f"_base_ = '{cfg}'\ntest_dataloader = dict(dataset=dict(pipeline=["
        "dict(type='LoadPairedImages'), dict(type='PairedResize', scale=64,"
        ' to_float32=True)]))\n')
    out = tmp_path / 'onnx'
    code = tool.main([str(float_cfg), ckpt, '--out-dir', str(out)])
    assert code == 0, capsys.readouterr().err
    model = onnx.load(str(out / 'pdnet_target.onnx'))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta['resize'] == ('bilinear (cv2.INTER_LINEAR) on float32 '
                              'values, not rounded to 8 bits, aspect ratio '
                              'not kept')
    assert meta['preprocessing'].startswith(
        'decode to 8-bit BGR; float32; resize to 64x64 (HxW, bilinear '
        '(cv2.INTER_LINEAR) on float32 values, not rounded to 8 bits, aspect '
        'ratio not kept); BGR->RGB; (x - mean) / std with ')


def test_size_is_needed_without_a_test_resize(load_tool, tmp_path, capsys,
                                              tiny_model_files):
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    no_resize = tmp_path / 'no_resize.py'
    no_resize.write_text(f"_base_ = '{cfg}'\ntest_dataloader = dict(dataset="
                         "dict(pipeline=[dict(type='LoadPairedImages')]))\n")
    out = tmp_path / 'onnx'
    assert tool.main([str(no_resize), ckpt, '--out-dir', str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'export_onnx: error: {no_resize} '
                          '(test_dataloader.dataset.pipeline): cannot tell '
                          'the model input size'), err
    assert err.endswith('; pass --size H W\n') and err.count('\n') == 1
    assert not out.exists()


def test_swapped_arguments_are_named(load_tool, tmp_path, capsys,
                                     tiny_model_files):
    tool = load_tool('deployment/export_onnx.py')
    cfg, ckpt = tiny_model_files
    assert tool.main([ckpt, cfg, '--out-dir', str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f'export_onnx: error: {ckpt}: not a config file '
        '(.py/.json/.yaml/.yml) but a checkpoint (arguments in the wrong '
        'order?); usage: export_onnx.py CONFIG CHECKPOINT --out-dir DIR '
        '[options]\n')


@pytest.fixture(scope='module')
def fp16_export(tmp_path_factory):
    """``--fp16 --verify`` of PDNet-R50 (the paper config) at 64x64, with
    weights drawn as the authors' reference forward's
    (tests/helpers.authors_weights): logits of order 10-100, as a trained
    model's, so fp16 rounding shows at its real size (a random-init
    model's probabilities all sit near 0.5). Returns the tool, config,
    checkpoint, output folder, exit status and output."""
    import contextlib
    import io
    from tests.helpers import PAPER_CONFIG, authors_weights, import_tool
    tmp = tmp_path_factory.mktemp('fp16')
    ckpt = str(tmp / 'authors_r50.pth')
    torch.save(authors_weights(50), ckpt)
    tool = import_tool('deployment/export_onnx.py')
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = tool.main([PAPER_CONFIG, ckpt, '--out-dir', str(tmp / 'onnx'),
                          '--size', '64', '64', '--fp16', '--verify'])
    return tool, PAPER_CONFIG, ckpt, tmp / 'onnx', code, out.getvalue(), \
        err.getvalue()


def test_fp16_graphs_match_pytorch_fp32(fp16_export):
    """--fp16 writes float16 graphs (weights, inputs, outputs); in
    onnxruntime (CPU) they stay within the stated limits of PyTorch
    float32 (docs/deployment.md gives the measured differences)."""
    import onnx
    from onnx import TensorProto
    tool, _, _, out, code, stdout, stderr = fp16_export
    assert code == 0, stderr
    assert 'input: (1, 3, 64, 64) float16 NCHW (H, W dynamic)' in stdout
    diff = float(stdout.split('max abs difference ')[1].split()[0])
    assert 0 < diff < 1  # rounding shows, and the masks agree (limits)
    assert 'mask pixels differing' in stdout
    for name in tool.GRAPHS:
        graph = onnx.load(str(out / name))
        for value in (*graph.graph.input, *graph.graph.output):
            assert value.type.tensor_type.elem_type == TensorProto.FLOAT16, \
                (name, value.name)
        weights = [t for t in graph.graph.initializer if len(t.dims) == 4]
        assert weights and all(t.data_type == TensorProto.FLOAT16
                               for t in weights), name
        meta = {p.key: p.value for p in graph.metadata_props}
        assert meta['dtype'] == 'float16'
        assert meta['preprocessing'].endswith('; cast to float16')


def test_fp16_check_fails_on_other_weights(fp16_export):
    """The fp16 comparison is not vacuous: the same graphs against a
    PyTorch model with other weights fail it."""
    tool, cfg, _, out, code, _, stderr = fp16_export
    assert code == 0, stderr
    torch.manual_seed(1)
    other, _ = tool._load_model(cfg, None)
    other.init_weights()
    with pytest.raises(RuntimeError, match='float16 graphs in ONNX Runtime '
                       'differ from PyTorch float32'):
        tool.verify(other.eval(), str(out), (64, 64), fp16=True)
