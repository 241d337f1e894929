"""The authors' PDNet checkpoints (iCVTEAM/PDNet) in this package.

The strongest fidelity pin: on the same weights, our PDNet computes the
authors' logits. ``tests/data/authors_checkpoint/reference_forward_r50.pt``
holds the output of their ``PDNet('resnet50').eval()`` on weights drawn by
:func:`tests.helpers.authors_weights` (``x`` target and ``y`` reference
frames drawn after the weights, ``logits`` at ``shape``).
"""
import os.path as osp
import re

import pytest
import torch

from mmseg_pdnet.utils import CheckpointError, load_state_dict_checked
from mmseg_pdnet.utils.authors_checkpoint import (
    authors_to_mmseg, convert_authors_checkpoint, count_parts,
    from_authors_layout, mmseg_to_authors, module_pairs,
    split_authors_checkpoint)
from mmseg_pdnet.utils.checkpoint import resnet_depth
from tests.helpers import (AUTHORS_DATA, authors_layout, authors_weights,
                           build_inference_model, config_path)

R50_CONFIG = config_path('pdnet_r50_2xb2-60e_mvps-480x480.py')
R101_CONFIG = config_path('pdnet_r101_2xb2-60e_mvps-480x480.py')


@pytest.fixture(scope='module')
def reference():
    """The authors' reference forward and the weights it ran on."""
    ref = torch.load(osp.join(AUTHORS_DATA, 'reference_forward_r50.pt'))
    g = torch.Generator().manual_seed(0)
    weights = authors_weights(50, g)
    x = torch.randn(1, 3, 96, 128, generator=g)
    y = torch.randn(1, 3, 96, 128, generator=g)
    # the same draws as the authors' run: the generator is in step
    assert torch.equal(x, ref['x']) and torch.equal(y, ref['y'])
    return ref, weights


@pytest.fixture(scope='module')
def r50(reference):
    """Our PDNet-R50 (the model-zoo config) with the converted weights."""
    _, weights = reference
    model = build_inference_model(R50_CONFIG)
    checkpoint = convert_authors_checkpoint(
        dict(model=weights, epoch=59, optim={}), 'authors_r50.pth')
    load_state_dict_checked(model, checkpoint, config=R50_CONFIG)
    return model


def _assert_close_to_authors(logits, ref):
    expected = ref['logits']
    assert logits.shape == expected.shape == (1, 1, 90, 120)
    scale = expected.abs().max()
    assert scale > 100  # a forward that is not degenerate
    assert (logits - expected).abs().max() <= 1e-4 * scale


def test_paired_forward_equals_the_authors_logits(r50, reference):
    ref, _ = reference
    with torch.no_grad():
        out = r50.forward_paired(torch.cat([ref['x'], ref['y']], dim=1),
                                 size=tuple(ref['shape']))
    _assert_close_to_authors(out['seg_logit'], ref)


def test_streaming_forward_equals_the_authors_logits(r50, reference):
    ref, _ = reference
    with torch.no_grad():
        cache = r50.encode_reference(ref['y'])
        out = r50.forward_target(ref['x'], cache, size=tuple(ref['shape']))
    _assert_close_to_authors(out['seg_logit'], ref)


def test_the_reference_frame_matters(r50, reference):
    """A wrong IPDA mapping would show: the logits depend on y."""
    ref, _ = reference
    with torch.no_grad():
        out = r50.forward_paired(torch.cat([ref['x'], ref['x']], dim=1),
                                 size=tuple(ref['shape']))
    assert (out['seg_logit'] - ref['logits']).abs().max() > 1


def test_conversion_maps_every_tensor_and_round_trips_exactly(reference):
    _, weights = reference
    basis = torch.rand(5, 512)
    ours = authors_to_mmseg(weights, basis)
    # per-part modules are concatenated: fewer tensors, the same numbers
    # (the parts' BN counters, all equal, become one)
    def numel(state):
        return sum(v.numel() for k, v in state.items()
                   if not k.endswith('num_batches_tracked'))

    assert numel(ours) == numel(weights) + basis.numel()
    assert ours['part_loss.basis'] is basis
    assert ours['neck.part_branches.1.conv.weight'].shape == (320, 64, 3, 3)
    assert torch.equal(ours['neck.attention.key.weight'][96:128],
                       weights['ipda.part_k_conv.3.weight'])
    theirs, basis_back = mmseg_to_authors(ours)
    assert list(theirs) == list(weights)  # their order, too
    assert all(torch.equal(theirs[k], weights[k]) for k in weights)
    assert all(theirs[k].dtype == weights[k].dtype for k in weights)
    assert torch.equal(basis_back, basis)


def test_r101_layout_converts_and_loads_strictly():
    weights = authors_weights(101)
    assert len(weights) == 864 and resnet_depth(weights, 'bkbone.') == 101
    checkpoint = convert_authors_checkpoint(dict(model=weights), 'r101.pth')
    assert checkpoint['meta']['depth'] == 101
    model = build_inference_model(R101_CONFIG)
    load_state_dict_checked(model, checkpoint, config=R101_CONFIG)
    state = model.state_dict()
    assert torch.equal(state['backbone.backbone.layer3.22.conv2.weight'],
                       weights['bkbone.layer3.22.conv2.weight'])
    assert torch.equal(state['decode_head.side_heads.3.weight'],
                       weights['head_4.weight'])


def test_all_forms_the_authors_write_are_read():
    weights = authors_weights(50)
    basis = torch.rand(5, 512)
    wrapped = {f'module.{k}': v for k, v in weights.items()}
    forms = [
        dict(epoch=3, model=weights, optim={},
             part_basis_generator=dict(w=basis)),
        dict(model=wrapped, part_basis_generator={'module.w': basis}),
        weights,
        wrapped,
    ]
    for form in forms:
        state, w = split_authors_checkpoint(form, 'f.pth')
        assert list(state) == list(weights)
        assert w is basis if 'model' in form else w is None
    meta = convert_authors_checkpoint(forms[0], 'f.pth', 'ab12')['meta']
    assert meta == dict(source='f.pth', source_layout='iCVTEAM/PDNet',
                        depth=50, num_parts=5, source_sha256='ab12',
                        authors_epoch=3)


def test_any_number_of_parts():
    pairs = module_pairs(3)
    assert sum(part == 2 for _, _, part in pairs) == 3 * 2 + 3 + 2
    weights = {k: v for k, v in authors_weights(50).items()
               if not re.match(r'ipda\.part_\w+\.[34]\.', k)}
    assert count_parts(weights) == 3
    ours = authors_to_mmseg(weights)
    assert ours['neck.attention.out.conv.weight'].shape == (192, 32, 1, 1)
    assert list(mmseg_to_authors(ours)[0]) == list(weights)


def test_refusals_name_the_file_and_the_problem():
    weights = authors_weights(50)
    with pytest.raises(CheckpointError, match=r"^x\.pth: 1 key\(s\) of no "
                       r"module of the authors' PDNet \(e\.g\. 'ipda\.extra"
                       r"\.weight'\): refusing to guess"):
        authors_to_mmseg(dict(weights, **{'ipda.extra.weight':
                                          torch.zeros(1)}), filename='x.pth')
    del weights['ipda.part_q_conv.2.weight']
    with pytest.raises(CheckpointError, match=r'^x\.pth: neck\.attention\.'
                       r'query\.weight lacks part\(s\) \[2\] of 5$'):
        authors_to_mmseg(weights, filename='x.pth')
    not_pdnet = {'conv1.weight': torch.zeros(1), 'fc.weight': torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"^r\.pth: not a PDNet "
                       r"checkpoint of the authors' layout \(no bkbone"):
        split_authors_checkpoint(not_pdnet, 'r.pth')
    with pytest.raises(CheckpointError, match=r'^r\.pth: not a PDNet '
                       r'checkpoint \(it holds a list'):
        split_authors_checkpoint([1], 'r.pth')
    with pytest.raises(CheckpointError, match=r'^o\.pth: no IPDA weights'):
        mmseg_to_authors({'backbone.backbone.conv1.weight': torch.zeros(1)},
                         'o.pth')


def test_a_checkpoint_of_the_other_depth_says_r50_versus_r101():
    checkpoint = dict(model=authors_weights(101))
    model = build_inference_model(R50_CONFIG)
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(model, checkpoint, config=R50_CONFIG,
                                filename='r101.pth')
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith(
        f'r101.pth: checkpoint does not match {R50_CONFIG} (a ResNet-101 '
        'checkpoint, a ResNet-50 model: use the R101 config): ')


def test_loaders_convert_an_authors_file_in_memory_with_one_log_line(
        tmp_path, monkeypatch, reference):
    ref, weights = reference
    path = tmp_path / 'pdnet_r50.pth'
    torch.save(dict(epoch=59, model=weights, optim={},
                    part_basis_generator=dict(w=torch.rand(5, 512))), path)
    from mmseg_pdnet.utils import authors_checkpoint
    messages = []  # MMLogger does not propagate to caplog
    monkeypatch.setattr(authors_checkpoint, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    model = build_inference_model(R50_CONFIG)
    load_state_dict_checked(model, str(path), config=R50_CONFIG)
    assert messages == [
        f"{path}: the authors' PDNet-R50 (p = 5) checkpoint (iCVTEAM/PDNet "
        'layout), converted in memory: 558 tensors to 451 of this package\'s'
        ' layout (tools/model_converters/pdnet2mmseg.py saves the '
        'conversion)']
    with torch.no_grad():
        out = model.forward_paired(torch.cat([ref['x'], ref['y']], dim=1),
                                   size=tuple(ref['shape']))
    _assert_close_to_authors(out['seg_logit'], ref)
    # a checkpoint of ours passes through untouched
    ours = dict(state_dict=model.state_dict(), meta={})
    assert from_authors_layout(ours, 'ours.pth') is ours


def test_the_r50_layout_has_the_parameter_count_of_ours():
    """25,638,855 parameters on both sides (BN statistics aside)."""
    layout = authors_layout(50)
    stats = ('running_mean', 'running_var', 'num_batches_tracked')
    count = sum(torch.Size(shape).numel() for key, shape, _ in layout
                if not key.endswith(stats))
    model = build_inference_model(R50_CONFIG)
    assert count == sum(p.numel() for p in model.parameters()) == 25_638_855
