"""mmseg_pdnet.utils.amp: one spelling of --amp, one dtype choice."""
import argparse

import pytest
import torch

from mmseg_pdnet.utils.amp import add_amp_argument, amp_dtype


@pytest.mark.parametrize('amp,device,dtype', [
    (False, 'cpu', None), (None, 'cuda', None),
    (True, 'cpu', torch.bfloat16), (True, 'cuda', torch.float16),
    (True, 'cuda:1', torch.float16), ('fp16', 'cpu', torch.float16),
    ('bf16', 'cuda', torch.bfloat16)])
def test_amp_dtype(amp, device, dtype):
    assert amp_dtype(amp, device) is dtype


def test_amp_dtype_names_a_bad_value():
    with pytest.raises(ValueError, match="got 'fp8'"):
        amp_dtype('fp8', 'cpu')


def test_the_tools_amp_option(capsys):
    parser = argparse.ArgumentParser(prog='tool')
    add_amp_argument(parser, 'the model')
    assert parser.parse_args([]).amp is False
    assert parser.parse_args(['--amp']).amp is True
    assert parser.parse_args(['--amp', 'bf16']).amp == 'bf16'
    with pytest.raises(SystemExit):
        parser.parse_args(['--amp', 'fp8'])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
    assert '--amp fp16 or --amp bf16' in parser.format_help()
