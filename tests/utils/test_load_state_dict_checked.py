"""load_state_dict_checked: the one way weights are loaded into a model."""
import pytest
import torch
from torch import nn

from mmseg_pdnet.utils import CheckpointError, load_state_dict_checked
from mmseg_pdnet.utils import checkpoint as checkpoint_module


class Net(nn.Module):

    def __init__(self, width=4, part_loss=True):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Conv2d(width, 1, 1)
        if part_loss:
            self.part_loss = nn.Module()
            self.part_loss.basis = nn.Parameter(torch.randn(3, 8))


def save(tmp_path, model, name='model.pth', **extra):
    path = tmp_path / name
    torch.save({'state_dict': model.state_dict(), 'meta': {}, **extra}, path)
    return str(path)


@pytest.fixture
def logs(monkeypatch):
    messages = []  # MMLogger does not propagate to caplog
    monkeypatch.setattr(checkpoint_module, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    return messages


def test_a_fitting_checkpoint_loads(tmp_path):
    src = Net()
    model = Net()
    ckpt = load_state_dict_checked(model, save(tmp_path, src))
    assert ckpt['meta'] == {}
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_part_loss_keys_may_be_absent_or_extra_and_module_prefix(tmp_path):
    # inference models build no part loss: the checkpoint's basis is extra
    src = Net()
    model = Net(part_loss=False)
    load_state_dict_checked(model, save(tmp_path, src))
    assert torch.equal(model.head.weight, src.head.weight)
    # a checkpoint without the part basis fits a training model; a DDP
    # checkpoint ('module.' keys) too
    state = {f'module.{k}': v for k, v in Net(part_loss=False)
             .state_dict().items()}
    model = Net()
    load_state_dict_checked(model, {'state_dict': state})
    assert torch.equal(model.conv.weight, state['module.conv.weight'])


def test_another_architecture_is_refused_with_one_message(tmp_path):
    src = Net(width=8)
    state = src.state_dict()
    del state['head.bias']
    state['extra.weight'] = torch.zeros(1)
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': state}, path)
    model = Net()
    before = model.conv.weight.detach().clone()
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(model, str(path), config='configs/x.py')
    assert str(err.value) == (
        f'{path}: checkpoint does not match configs/x.py: 1 missing '
        '(e.g. head.bias), 1 unexpected (e.g. extra.weight), 7 '
        'shape-mismatched (e.g. bn.bias: (8,) in the checkpoint, (4,) in '
        'the model)')
    assert torch.equal(model.conv.weight, before)  # nothing loaded


def test_partial_load_on_purpose_loads_what_fits_and_logs_the_rest(
        tmp_path, logs):
    src = Net()
    state = src.state_dict()
    state['head.weight'] = torch.zeros(1, 5, 1, 1)
    del state['head.bias']
    path = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, path)
    model = Net()
    head = model.head.weight.detach().clone()
    load_state_dict_checked(model, str(path), strict=False)
    assert torch.equal(model.conv.weight, src.conv.weight)
    assert torch.equal(model.head.weight, head)  # kept its initial value
    assert len(logs) == 1
    assert logs[0].startswith(f'{path}: loading it partially')
    assert '1 missing (e.g. head.bias)' in logs[0]
    assert '1 shape-mismatched (e.g. head.weight' in logs[0]


def test_unusable_files_give_one_line_naming_the_file(tmp_path):
    model = Net()
    missing = tmp_path / 'nope.pth'
    with pytest.raises(CheckpointError, match=f'^{missing}: checkpoint does '
                       'not exist$') as err:
        load_state_dict_checked(model, str(missing))
    assert isinstance(err.value, FileNotFoundError)
    # a save cut short (e.g. a kill while writing)
    whole = save(tmp_path, Net())
    truncated = tmp_path / 'truncated.pth'
    with open(whole, 'rb') as f:
        truncated.write_bytes(f.read()[:200])
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(model, str(truncated))
    assert str(err.value).startswith(
        f'{truncated}: not a loadable checkpoint (')
    assert '\n' not in str(err.value)
    with pytest.raises(CheckpointError, match='no state_dict'):
        load_state_dict_checked(model, {'state_dict': [1, 2]},
                                filename='list.pth')


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    from tests.utils.test_checkpoint import _SystemCall
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': Net().state_dict(),
                'meta': _SystemCall(marker)}, path)
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(Net(), str(path))
    assert str(err.value).startswith(
        f'{path}: refused: it would run code when unpickled (')
    assert 'weights_only' not in str(err.value)
    assert not marker.exists()
