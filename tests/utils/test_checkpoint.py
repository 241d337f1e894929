"""MMEngine checkpoints load under torch >= 2.6; malicious ones do not."""
import io
import os
import pickle
import struct
import zipfile

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

from mmseg_pdnet.utils import (CheckpointError, history_buffer_getattr,
                               register_safe_checkpoint_globals)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.conv(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=(out - 1).pow(2).mean())
        return out


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((1, 2, 2), float(i)))


def make_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), sampler=dict(type='DefaultSampler'),
            batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=100)),
        default_scope='mmengine',
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING',
        experiment_name=f'ckpt_{os.path.basename(str(work_dir))}_'
        f'{max_iters}_{len(kwargs)}',
        **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('run')
    runner = make_runner(work_dir, 4)
    runner.train()
    return work_dir, runner.model.conv.weight.detach().clone()


def test_runner_checkpoint_loads_with_weights_only(trained):
    work_dir, _ = trained
    ckpt = torch.load(work_dir / 'iter_4.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    buffers = ckpt['message_hub']['log_scalars']
    assert all(isinstance(b, HistoryBuffer) for b in buffers.values())


def test_load_from(trained, tmp_path):
    work_dir, weight = trained
    runner = make_runner(tmp_path, 4, load_from=str(work_dir / 'iter_4.pth'))
    runner.load_or_resume()
    torch.testing.assert_close(runner.model.conv.weight, weight)


def test_resume_continues_at_the_saved_iteration(trained, tmp_path):
    work_dir, _ = trained
    runner = make_runner(tmp_path, 6, resume=True,
                         load_from=str(work_dir / 'iter_4.pth'))
    runner.train()
    assert runner.iter == 6
    assert (tmp_path / 'iter_6.pth').exists()


class _SystemCall:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def assert_one_line_refusal(message, path):
    """What a user reads: one line naming the file, no advice to unpickle
    it with ``weights_only=False``."""
    assert message.startswith(f'{path}: refused: it would run code when '
                              'unpickled (')
    assert '\n' not in message and 'weights_only' not in message


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _SystemCall(marker)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(nn.Conv2d(1, 1, 1), str(path), map_location='cpu')
    assert_one_line_refusal(str(err.value), path)
    # the refused global is named
    assert str(err.value).endswith('system)')
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert not marker.exists()
    # plain torch.load refuses it as well
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(path, map_location='cpu')
    assert not marker.exists()


def save_raw_pickle(path, payload):
    """Write a torch zip checkpoint whose data.pkl is ``payload``."""
    torch.save({}, path)
    with zipfile.ZipFile(path) as src:
        entries = {n: src.read(n) for n in src.namelist()}
    name = next(n for n in entries if n.endswith('/data.pkl'))
    entries[name] = payload
    with zipfile.ZipFile(path, 'w') as dst:
        for n, data in entries.items():
            dst.writestr(n, data)


def _str(text):
    """Pickle opcode BINUNICODE (the string ops torch's unpickler reads)."""
    return b'X' + struct.pack('<I', len(text)) + text.encode()


@pytest.mark.parametrize('payload,refused', [
    # getattr(__import__('os'), 'system')('touch <marker>')
    (b'cbuiltins\ngetattr\n(cbuiltins\n__import__\n(' + _str('os') +
     b'tR' + _str('system') + b'tR({cmd}tR.', '__import__'),
    # getattr(HistoryBuffer, '__init__')(...): the allow-listed name,
    # another attribute
    (b'cbuiltins\ngetattr\n(cmmengine.logging.history_buffer\n'
     b'HistoryBuffer\n' + _str('__init__') + b'tR({cmd}tR.',
     'refusing getattr'),
])
def test_getattr_payloads_are_refused(tmp_path, payload, refused):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil_getattr.pth'
    save_raw_pickle(path, payload.replace(b'{cmd}', _str(f'touch {marker}')))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(nn.Conv2d(1, 1, 1), str(path), map_location='cpu')
    assert_one_line_refusal(str(err.value), path)
    assert refused in str(err.value)
    assert not marker.exists()


def test_getattr_through_the_allow_listed_name_is_refused():
    """``builtins.getattr`` resolves to the narrow stand-in when unpickling."""
    # protocol-2 pickle of getattr(HistoryBuffer, 'update')
    payload = (b'\x80\x02cbuiltins\ngetattr\n'
               b'cmmengine.logging.history_buffer\nHistoryBuffer\n'
               b'X\x06\x00\x00\x00update\x86R.')
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.serialization._weights_only_unpickler.load(
            io.BytesIO(payload), encoding='utf-8')
    # the four statistics do resolve
    ok = payload.replace(b'X\x06\x00\x00\x00update', b'X\x04\x00\x00\x00mean')
    assert torch.serialization._weights_only_unpickler.load(
        io.BytesIO(ok), encoding='utf-8') is HistoryBuffer.mean


def test_stand_in_getattr_only_resolves_history_buffer_statistics():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        history_buffer_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    assert register_safe_checkpoint_globals() is True  # idempotent
