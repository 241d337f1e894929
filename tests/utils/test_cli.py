"""The shared command-line checks of mmseg_pdnet.utils.cli."""
import argparse

import pytest
import torch

from mmseg_pdnet.utils import cli
from mmseg_pdnet.utils.cli import (CLIError, check_checkpoint_path,
                                   check_device, load_config, positive_float,
                                   positive_int)


def test_check_device_accepts_cpu_and_the_automatic_choice():
    check_device(None)
    check_device('cpu')


def test_check_device_without_cuda_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for device in ('cuda', 'cuda:1'):
        with pytest.raises(CLIError) as err:
            check_device(device)
        message = str(err.value)
        assert message.startswith(f'--device {device}: CUDA is not '
                                  'available (')
        assert message.endswith('; use --device cpu')
        assert '\n' not in message
    # a CLIError is a ValueError: the tools' handlers print it as one line
    assert isinstance(err.value, ValueError)


def test_check_device_names_the_gpus_there_are(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    check_device('cuda:1')
    with pytest.raises(CLIError, match=r'^--device cuda:2: this machine has '
                       r'2 CUDA device\(s\): cuda:0 to cuda:1$'):
        check_device('cuda:2')


def test_check_device_rejects_what_is_not_a_device():
    with pytest.raises(CLIError, match=r"^--device 'gpu': not a device "
                       r'\(expected cpu, cuda, cuda:N, ...\)$'):
        check_device('gpu')


def test_load_config_swapped_arguments(tmp_path):
    ckpt = tmp_path / 'epoch_6.pth'
    ckpt.write_bytes(b'weights')
    usage = 'test.py CONFIG CHECKPOINT [options]'
    with pytest.raises(CLIError) as err:
        load_config(str(ckpt), usage)
    assert str(err.value) == (
        f'{ckpt}: not a config file (.py/.json/.yaml/.yml) but a checkpoint '
        '(arguments in the wrong order?); usage: test.py CONFIG CHECKPOINT '
        '[options]')
    with pytest.raises(CLIError, match=r'/frames: not a config file .* but '
                       r'a folder \(arguments in the wrong order\?\)'):
        (tmp_path / 'frames').mkdir()
        load_config(str(tmp_path / 'frames'), usage)


def test_load_config_missing_or_broken_file(tmp_path):
    usage = 'train.py CONFIG [options]'
    missing = tmp_path / 'nope.py'
    with pytest.raises(CLIError) as err:
        load_config(str(missing), usage)
    assert str(err.value) == (f'{missing}: config file does not exist; '
                              'usage: train.py CONFIG [options]')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n  type="PDNet"\n')
    with pytest.raises(CLIError) as err:
        load_config(str(broken), usage)
    assert str(err.value).startswith(f'{broken}: not a readable config '
                                     '(SyntaxError: ')
    assert '\n' not in str(err.value)
    good = tmp_path / 'good.py'
    good.write_text('a = 1\n')
    assert load_config(str(good), usage).a == 1


def test_check_checkpoint_path(tmp_path):
    usage = 'test.py CONFIG CHECKPOINT [options]'
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('a = 1\n')
    with pytest.raises(CLIError) as err:
        check_checkpoint_path(str(cfg), usage)
    assert str(err.value) == (f'{cfg}: not a checkpoint but a config file '
                              '(arguments in the wrong order?); usage: '
                              'test.py CONFIG CHECKPOINT [options]')
    with pytest.raises(CLIError, match=r'x.pth: checkpoint does not exist$'):
        check_checkpoint_path(str(tmp_path / 'x.pth'), usage)
    (tmp_path / 'x.pth').write_bytes(b'w')
    assert check_checkpoint_path(str(tmp_path / 'x.pth'), usage) == str(
        tmp_path / 'x.pth')


@pytest.mark.parametrize('kind,text,message', [
    (positive_int, '0', 'expected an integer >= 1, got 0'),
    (positive_int, '-3', 'expected an integer >= 1, got -3'),
    (positive_int, '1.5', "expected an integer >= 1, got '1.5'"),
    (positive_float, '0', 'expected a number > 0, got 0.0'),
    (positive_float, 'nan', 'expected a number > 0, got nan'),
])
def test_positive_types(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f'^{message}$'):
        kind(text)


def test_positive_types_accept_valid_values():
    assert positive_int('3') == 3 and positive_float('29.97') == 29.97


def test_help_formatter_shows_meaningful_defaults_only():
    parser = argparse.ArgumentParser(formatter_class=cli.HelpFormatter,
                                     description='line one\n  kept as is')
    parser.add_argument('--size', type=int, default=480, help='input size')
    parser.add_argument('--flag', action='store_true', help='a switch')
    parser.add_argument('--path', help='unset by default')
    text = parser.format_help()
    assert 'input size (default: 480)' in text
    assert 'a switch\n' in text and 'unset by default\n' in text
    assert '(default: False)' not in text and '(default: None)' not in text
    assert 'line one\n  kept as is' in text


def test_output_checks_name_the_blocking_file(tmp_path):
    from mmseg_pdnet.utils.cli import check_output_dir, check_output_file
    (tmp_path / 'file.txt').write_text('x')
    # missing folders are fine and nothing is created
    assert check_output_file(str(tmp_path / 'a' / 'b.json'), '--json')
    assert check_output_dir(str(tmp_path / 'c' / 'd'), '--out')
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'c').exists()
    with pytest.raises(CLIError, match=r'^--json .*file.txt/b.json: .*'
                       r'file.txt is a file, not a folder$'):
        check_output_file(str(tmp_path / 'file.txt' / 'b.json'), '--json')
    with pytest.raises(CLIError, match='is a folder; give a file name'):
        check_output_file(str(tmp_path), '--json')
    with pytest.raises(CLIError, match=r'expected a \.png file name'):
        check_output_file(str(tmp_path / 's.txt'), '--contact-sheet',
                          ('.png', ))
    with pytest.raises(CLIError, match='is a file, not a folder'):
        check_output_dir(str(tmp_path / 'file.txt'), '--out-dir')
    assert not list(tmp_path.glob('.write-test-*'))


def test_config_key_checks(tmp_path):
    from tests.helpers import DEMO_CONFIG
    usage = 'train.py CONFIG'
    cfg = tmp_path / 'c.py'
    cfg.write_text('')
    with pytest.raises(CLIError, match='config is empty'):
        load_config(str(cfg), usage)
    cfg.write_text(f"_base_ = ['{DEMO_CONFIG}']\n"
                   "model = dict(neck=dict(num_part=3))\n")
    with pytest.raises(CLIError, match=r"model\.neck\.num_part: .* takes no "
                       r"argument 'num_part' \(did you mean 'num_parts'\?\)"):
        load_config(str(cfg), usage)
    # a helper variable holding the setting's value is not a typo
    cfg.write_text(f"_base_ = ['{DEMO_CONFIG}']\nmax_epoch = 5\n"
                   "train_cfg = dict(max_epochs=max_epoch)\n")
    assert load_config(str(cfg), usage).train_cfg.max_epochs == 5
