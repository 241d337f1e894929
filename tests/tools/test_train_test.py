"""tools/train.py and tools/test.py end to end on tiny synthetic clips."""
import glob
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import (DEMO_CONFIG, PAPER_CONFIG, make_image_set,
                           make_tiny_data, write_tiny_config)


def test_train_learns_then_test_writes_masks(tmp_path, load_tool):
    data = make_tiny_data(str(tmp_path / 'data'), frames=4)
    images = make_image_set(data, str(tmp_path / 'images'))
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=3,
                            batch=2, lr=0.02, image_root=images)
    work = str(tmp_path / 'work')
    train = load_tool('train.py')
    runner_cfg = train.build_cfg(train.parse_args([cfg, '--work-dir', work]))
    from mmengine.runner import Runner
    runner = Runner.from_cfg(runner_cfg)
    history = []
    from mmengine.hooks import Hook

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            history.append((runner.train_loop.phase,
                            {k: float(v) for k, v in outputs.items()}))

    runner.register_hook(Record(), priority='VERY_LOW')
    runner.train()
    # 4 video batches (8 frames, batch 2), 2 image batches per epoch
    assert runner.train_loop.iter == 3 * 6
    phases = [p for p, _ in history]
    assert phases[:6] == ['image', 'video', 'video'] * 2
    for phase, out in history:
        assert all(k.startswith(phase + '.') for k in out)
        assert all(np.isfinite(v) for v in out.values()), out
    video = [o['video.loss'] for p, o in history if p == 'video']
    assert {'video.loss_seg', 'video.loss_side', 'video.loss_geo',
            'video.loss_ref_side'} <= set(history[1][1])
    assert {'image.loss_seg', 'image.loss_side'} == {
        k for k in history[0][1] if k.startswith('image.loss_')}
    assert np.mean(video[-3:]) < 0.7 * np.mean(video[:3]), video
    ckpt = osp.join(work, 'epoch_3.pth')
    assert osp.isfile(ckpt)

    test = load_tool('test.py')
    out = str(tmp_path / 'masks')
    test.main([cfg, ckpt, '--work-dir', str(tmp_path / 'test'), '--out',
               out, '--out-prob'])
    seqs = sorted(os.listdir(out))
    assert seqs == ['test_002']
    frames = sorted(os.listdir(osp.join(out, 'test_002')))
    assert frames == [f'{i:05d}.png' for i in range(4)]
    mask = cv2.imread(osp.join(out, 'test_002', frames[0]),
                      cv2.IMREAD_UNCHANGED)
    assert mask.shape == (64, 96) and set(np.unique(mask)) <= {0, 255}
    prob = cv2.imread(osp.join(out + '_prob', 'test_002', frames[0]),
                      cv2.IMREAD_UNCHANGED)
    assert prob.shape == (64, 96)
    np.testing.assert_array_equal(prob >= 128, mask == 255)


def test_resume_flag_continues_from_last_checkpoint(tmp_path, load_tool):
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=2,
                            batch=2)
    work = str(tmp_path / 'work')
    train = load_tool('train.py')
    train.main([cfg, '--work-dir', work,
                '--cfg-options', 'train_cfg.max_epochs=1',
                'default_hooks.checkpoint.interval=1'])
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    args = train.parse_args([cfg, '--work-dir', work, '--resume'])
    from mmengine.runner import Runner
    runner = Runner.from_cfg(train.build_cfg(args))
    runner.train()
    assert runner.train_loop.iter == 2 * 2
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 4 and ckpt['meta']['epoch'] == 2


def test_amp_trains_both_phases_under_autocast(tmp_path, load_tool,
                                               monkeypatch):
    """``enable_amp`` (``--amp``) makes the one optim wrapper of both
    phases an AmpOptimWrapper (one loss scaler), and the train steps of
    both phases run under autocast (bfloat16 on CPU).

    MMEngine's AmpOptimWrapper refuses to be built without a GPU, and so
    does ``--amp``; the guard is lifted here so that our loop, constructor
    and losses run the AMP code path on CPU. Its GradScaler disables itself
    without CUDA (bfloat16 needs no loss scaling).
    """
    from mmengine.hooks import Hook
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    from mmengine.runner import Runner
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    images = make_image_set(data, str(tmp_path / 'images'))
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                            batch=2, image_root=images)
    train = load_tool('train.py')
    runner_cfg = train.build_cfg(train.parse_args(
        [cfg, '--work-dir', str(tmp_path / 'work')]))
    train.enable_amp(runner_cfg)
    runner = Runner.from_cfg(runner_cfg)
    seen = []

    class Record(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            seen.append([runner.train_loop.phase])

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            seen[-1].append({k: float(v) for k, v in outputs.items()})

    def record_dtype(module, inputs, output):
        if module.training:  # not the validation at the end of the epoch
            seen[-1].append(output.dtype)

    runner.model.backbone.backbone.conv1.register_forward_hook(record_dtype)
    runner.register_hook(Record(), priority='VERY_LOW')
    runner.train()
    # one wrapper, so one loss scaler, for both phases (as the authors)
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)
    assert [s[0] for s in seen] == ['image', 'video', 'video']
    # one encoder call per frame set (per-frame BN statistics): two per
    # step, each under autocast
    for phase, *dtypes, outputs in seen:
        assert len(dtypes) == 2 and set(dtypes) == {torch.bfloat16}, phase
        assert all(np.isfinite(v) for v in outputs.values()), outputs


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only check')
def test_amp_without_gpu(tmp_path, load_tool, monkeypatch):
    """The paper recipe's AMP config trains in float32 on a CPU-only
    machine (with a warning); ``--amp`` there is a clear error."""
    train = load_tool('train.py')
    messages = []  # MMLogger does not propagate to caplog
    monkeypatch.setattr(train, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    cfg = train.build_cfg(train.parse_args(
        [PAPER_CONFIG, '--work-dir', str(tmp_path)]))
    wrapper = cfg.optim_wrapper
    assert wrapper['type'] == 'OptimWrapper' and 'loss_scale' not in wrapper
    assert any('training in float32' in m for m in messages), messages
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train.main([PAPER_CONFIG, '--work-dir', str(tmp_path), '--amp'])


def test_amp_flag_keeps_an_amp_config_and_refuses_other_wrappers(
        load_tool):
    from mmengine.config import Config
    train_module = load_tool('train.py')
    cfg = Config.fromfile(PAPER_CONFIG)
    before = cfg.optim_wrapper.to_dict()
    train_module.enable_amp(cfg)  # already AMP: warns, changes nothing
    assert cfg.optim_wrapper.to_dict() == before
    cfg = Config(dict(optim_wrapper=dict(
        type='ApexOptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(ValueError, match='only supported with OptimWrapper'):
        train_module.enable_amp(cfg)
    # --amp bf16 / fp16 set the wrapper's dtype (one spelling across tools)
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    train_module.enable_amp(cfg, 'bf16')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert train_module.build_parser().parse_args(
        ['c.py', '--amp', 'fp16']).amp == 'fp16'
    # the demo's CPU bfloat16 wrapper becomes CUDA AMP
    cfg = Config(dict(optim_wrapper=dict(
        type='CPUAutocastOptimWrapper', enabled='auto',
        optimizer=dict(type='AdamW', lr=0.1))))
    train_module.enable_amp(cfg)
    assert cfg.optim_wrapper.to_dict() == dict(
        type='AmpOptimWrapper', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=0.1))


@pytest.fixture
def tiny_cfg(tmp_path):
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    return write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                             batch=4)


def save_other_architecture(path):
    """A checkpoint of the demo config's model (wider decoder and head than
    the tiny config's)."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(),
                'meta': {}}, path)
    return str(path)


def test_test_refuses_a_checkpoint_of_another_architecture(
        tmp_path, tiny_cfg, load_tool, monkeypatch):
    """Refused with one line and exit status 1, not scored as J&F 0.0."""
    ckpt = save_other_architecture(tmp_path / 'demo.pth')
    test = load_tool('test.py')
    work = str(tmp_path / 'test')
    with pytest.raises(SystemExit) as err:
        test.main([tiny_cfg, ckpt, '--work-dir', work])
    message = err.value.code  # a string: exit status 1
    assert isinstance(message, str) and '\n' not in message
    assert message.startswith(f'test.py: error: {ckpt}: checkpoint does '
                              f'not match {tiny_cfg}: ')
    assert re.search(r': \d+ shape-mismatched \(e.g. \S+: \(\d+,\) in the '
                     r'checkpoint, \(\d+,\) in the model\)$', message)
    assert not glob.glob(osp.join(work, '*', 'jf_results.json'))
    # on purpose: evaluated, with what was skipped in the log
    from mmseg_pdnet.utils import checkpoint
    messages = []  # MMLogger does not propagate to caplog
    monkeypatch.setattr(checkpoint, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    test.main([tiny_cfg, ckpt, '--work-dir', work, '--allow-partial-load'])
    assert glob.glob(osp.join(work, '*', 'jf_results.json'))
    assert len(messages) == 1 and messages[0].startswith(
        f'{ckpt}: loading it partially into {tiny_cfg} on purpose: skipped ')


def test_tools_refuse_a_checkpoint_that_would_run_code(tmp_path, tiny_cfg,
                                                       load_tool):
    from tests.utils.test_checkpoint import _SystemCall
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _SystemCall(marker)}, evil)
    with pytest.raises(SystemExit) as err:
        load_tool('test.py').main([tiny_cfg, str(evil), '--work-dir',
                                   str(tmp_path / 'test')])
    assert err.value.code == (
        f'test.py: error: {evil}: refused: it would run code when '
        f'unpickled (unsupported global {os.system.__module__}.system)')
    with pytest.raises(SystemExit) as err:
        load_tool('train.py').main([tiny_cfg, '--work-dir',
                                    str(tmp_path / 'train'), '--resume',
                                    str(evil)])
    assert err.value.code.startswith(f'train.py: error: {evil}: refused: ')
    assert not marker.exists()


def test_train_refuses_a_load_from_that_does_not_fit(tmp_path, tiny_cfg,
                                                     load_tool):
    """MMEngine loads load_from with strict=False: silently partial."""
    ckpt = save_other_architecture(tmp_path / 'demo.pth')
    train = load_tool('train.py')
    work = str(tmp_path / 'work')
    with pytest.raises(SystemExit) as err:
        train.main([tiny_cfg, '--work-dir', work, '--cfg-options',
                    f'load_from={ckpt}'])
    assert err.value.code.startswith(f'train.py: error: {ckpt}: checkpoint '
                                     f'does not match {tiny_cfg}: ')
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(SystemExit) as err:
        train.main([tiny_cfg, '--work-dir', work, '--resume', missing])
    assert err.value.code == (f'train.py: error: {missing}: checkpoint '
                              'does not exist')


def test_data_root_with_spaces_and_non_ascii_letters(tmp_path, load_tool):
    """--cfg-options would drop the spaces; --data-root keeps the path."""
    root = tmp_path / 'my data' / 'Ünïcode clips'
    data = make_tiny_data(str(root), frames=2)
    images = make_image_set(data, str(tmp_path / 'my images' / 'Ïmages'))
    # the config names other folders: the flags must replace them all
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), 'data/nowhere',
                            epochs=1, batch=4, image_root='data/no-images')
    work = str(tmp_path / 'my work' / 'rün')
    train = load_tool('train.py')
    with pytest.raises(SystemExit, match='--data-root .*: no such dir'):
        train.main([cfg, '--work-dir', work, '--data-root',
                    str(tmp_path / 'my data' / 'missing')])
    train.main([cfg, '--work-dir', work, '--data-root', data,
                '--image-data-root', images])
    ckpt = osp.join(work, 'epoch_1.pth')
    from mmengine.config import Config
    saved = Config.fromstring(torch.load(ckpt, map_location='cpu')[
        'meta']['cfg'], '.py')
    assert saved.train_dataloader.dataset.data_root == data
    assert saved.train_cfg.image_dataloader.dataset.data_root == images
    out = str(tmp_path / 'my masks')
    load_tool('test.py').main([cfg, ckpt, '--work-dir',
                               str(tmp_path / 'my test'), '--data-root',
                               data, '--out', out])
    assert os.listdir(out) == ['test_002']
    assert sorted(os.listdir(osp.join(out, 'test_002'))) == [
        '00000.png', '00001.png']


def test_config_errors_name_the_file_and_the_argument_order(tmp_path,
                                                            load_tool):
    """``test.py CKPT CONFIG`` ends in one line that says which file is
    what, not in a traceback from the config parser."""
    cfg = DEMO_CONFIG
    ckpt = tmp_path / 'epoch_6.pth'
    ckpt.write_bytes(b'weights')
    test = load_tool('test.py')
    with pytest.raises(SystemExit) as err:
        test.main([str(ckpt), cfg])
    assert err.value.code == (
        f'test.py: error: {ckpt}: not a config file (.py/.json/.yaml/.yml) '
        'but a checkpoint (arguments in the wrong order?); usage: test.py '
        'CONFIG CHECKPOINT [options]')
    with pytest.raises(SystemExit) as err:
        test.main([cfg, cfg])
    assert err.value.code == (
        f'test.py: error: {cfg}: not a checkpoint but a config file '
        '(arguments in the wrong order?); usage: test.py CONFIG CHECKPOINT '
        '[options]')
    with pytest.raises(SystemExit) as err:
        test.main([str(tmp_path / 'nope.py'), str(ckpt)])
    assert err.value.code == (
        f'test.py: error: {tmp_path / "nope.py"}: config file does not '
        'exist; usage: test.py CONFIG CHECKPOINT [options]')
    with pytest.raises(SystemExit) as err:
        test.main([cfg, str(tmp_path / 'none.pth')])
    assert err.value.code == (f'test.py: error: {tmp_path / "none.pth"}: '
                              'checkpoint does not exist')
    train = load_tool('train.py')
    with pytest.raises(SystemExit) as err:
        train.main([str(ckpt)])
    assert err.value.code == (
        f'train.py: error: {ckpt}: not a config file (.py/.json/.yaml/.yml) '
        'but a checkpoint (arguments in the wrong order?); usage: train.py '
        'CONFIG [options] (a checkpoint goes to --resume, or to '
        '--cfg-options load_from=...)')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    with pytest.raises(SystemExit) as err:
        train.main([str(broken)])
    assert err.value.code.startswith(
        f'train.py: error: {broken}: not a readable config (SyntaxError: ')
    assert '\n' not in err.value.code
