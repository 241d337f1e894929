"""The batched IPDA (grouped convs, one bmm over parts) against the
per-part IPDA it replaced, kept here verbatim as the oracle: same outputs
and training losses from the same weights, old checkpoints load strictly,
and BN folding keeps the outputs."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import nn

from mmseg_pdnet.models.necks import IPDA
from mmseg_pdnet.models.utils import fuse_conv_bn
from mmseg_pdnet.utils import load_state_dict_checked
from mmseg_pdnet.utils.benchmarking import count_ops
from tests.helpers import build_model, demo_batch, tiny_model_cfg

# ---------------------------------------------------------------------- #
# the per-part IPDA (state dict version 1), one module per part
# ---------------------------------------------------------------------- #


class PerPartCrossAttention(nn.Module):

    def __init__(self, channels, attn_channels):
        super().__init__()
        self.query = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.key = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.value = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.out = ConvModule(attn_channels, channels, 1, bias=False,
                              norm_cfg=dict(type='BN'))
        self.scale = 1.0  # scale_attention=False

    def encode_reference(self, ref_part):
        return dict(key=self.key(ref_part).flatten(2),
                    value=self.value(ref_part).flatten(2))

    def forward(self, target_part, key, value):
        b, _, h, w = target_part.shape
        query = self.query(target_part).flatten(2)
        logits = torch.bmm(query.transpose(1, 2), key) * self.scale
        attn = logits.softmax(dim=-1)
        out = torch.bmm(value, attn.transpose(1, 2)).reshape(b, -1, h, w)
        return target_part + self.out(out)


class PerPartIPDA(nn.Module):
    """The IPDA before batching: a Python loop over p part modules."""

    def __init__(self, in_channels=128, channels=64, attn_channels=32,
                 num_parts=5, num_refs=1, downsample=4):
        super().__init__()
        self.num_parts, self.num_refs = num_parts, num_refs
        self.downsample, self.channels = downsample, channels
        conv = dict(bias=False, norm_cfg=dict(type='BN'))
        self.adapter = nn.Sequential(
            ConvModule(in_channels, in_channels, 3, padding=1, **conv),
            ConvModule(in_channels, channels, 1, **conv))
        self.saliency = nn.Conv2d(channels, 1, 3, padding=1)
        self.part_branches = nn.ModuleList(
            nn.Sequential(
                ConvModule(channels, channels, 1, **conv),
                ConvModule(channels, channels, 3, padding=1, **conv),
                ConvModule(channels, channels, 1, **conv))
            for _ in range(num_parts))
        self.part_head = nn.Conv2d(channels, 1, 3, padding=1)
        self.attentions = nn.ModuleList(
            PerPartCrossAttention(channels, attn_channels)
            for _ in range(num_parts))

    def decouple(self, appearance):
        h = appearance.shape[-2] // self.downsample
        w = appearance.shape[-1] // self.downsample
        x = F.interpolate(appearance, size=(h, w), mode='bilinear',
                          align_corners=True)
        x = self.adapter(x)
        parts = [branch(x) for branch in self.part_branches]
        part_logits = torch.cat([self.part_head(p) for p in parts], dim=1)
        return dict(parts=parts, sal_logit=self.saliency(x),
                    part_logits=part_logits)

    def encode_reference(self, ref_appearances):
        return self._reference_cache(
            [self.decouple(a) for a in ref_appearances])

    def _reference_cache(self, refs):
        keys, values = [], []
        for ref in refs:
            kv = [att.encode_reference(p)
                  for att, p in zip(self.attentions, ref['parts'])]
            keys.append(torch.stack([x['key'] for x in kv], dim=1))
            values.append(torch.stack([x['value'] for x in kv], dim=1))
        return dict(key=torch.cat(keys, dim=-1), value=torch.cat(values, -1))

    def assemble(self, target, ref_cache):
        part_masks = target['sal_logit'].sigmoid() * \
            target['part_logits'].softmax(dim=1)
        motion = 0
        for k, (att, part) in enumerate(zip(self.attentions,
                                            target['parts'])):
            q_k = att(part, ref_cache['key'][:, k], ref_cache['value'][:, k])
            motion = motion + q_k * part_masks[:, k:k + 1]
        return dict(motion=motion, part_masks=part_masks)

    def forward(self, target_appearance, ref_appearances):
        target = self.decouple(target_appearance)
        refs = [self.decouple(a) for a in ref_appearances]
        out = self.assemble(target, self._reference_cache(refs))
        out.update(
            sal_logit=target['sal_logit'],
            part_logits=target['part_logits'],
            ref_sal_logits=[r['sal_logit'] for r in refs],
            ref_part_logits=[r['part_logits'] for r in refs])
        return out


def per_part_ipda(num_parts=3, num_refs=1):
    """A per-part IPDA with random weights and running statistics."""
    old = PerPartIPDA(num_parts=num_parts, num_refs=num_refs)
    with torch.no_grad():
        for name, tensor in old.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0)
            elif name.endswith('num_batches_tracked'):
                tensor.fill_(7)
            elif tensor.is_floating_point():
                tensor.normal_(0, 0.3)
    return old


def batched_from(old, **kwargs):
    """The batched IPDA loaded (strictly) from a per-part state dict."""
    new = IPDA(num_parts=old.num_parts, num_refs=old.num_refs, **kwargs)
    new.load_state_dict(old.state_dict(), strict=True)
    return new


def assert_outputs_close(got, want, atol=1e-5):
    assert set(got) == set(want)
    for name, value in want.items():
        values = value if isinstance(value, list) else [value]
        gots = got[name] if isinstance(value, list) else [got[name]]
        for g, w in zip(gots, values):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=atol, msg=name)


@pytest.mark.parametrize('num_refs', [1, 2])
def test_batched_ipda_equals_per_part_ipda_in_eval_mode(num_refs):
    old = per_part_ipda(num_parts=3, num_refs=num_refs).eval()
    new = batched_from(old).eval()
    a_t = torch.randn(2, 128, 32, 28)
    refs = [torch.randn(2, 128, 32, 28) for _ in range(num_refs)]
    with torch.no_grad():
        want, got = old(a_t, refs), new(a_t, refs)
        assert_outputs_close(got, want)
        # the pieces the streaming API uses
        want_t, got_t = old.decouple(a_t), new.decouple(a_t)
        assert got_t['parts'].shape == (2, 3, 64, 8, 7)
        for k in range(3):
            torch.testing.assert_close(got_t['parts'][:, k],
                                       want_t['parts'][k])
        for name in ('sal_logit', 'part_logits'):
            torch.testing.assert_close(got_t[name], want_t[name], rtol=1e-5,
                                       atol=1e-5)
        want_cache = old.encode_reference(refs)
        got_cache = new.encode_reference(refs)
        for name in ('key', 'value'):  # (B, p, d, N), N over references
            assert got_cache[name].shape == (2, 3, 32, num_refs * 8 * 7)
            torch.testing.assert_close(got_cache[name], want_cache[name],
                                       rtol=1e-5, atol=1e-5)
        assert_outputs_close(new.assemble(got_t, got_cache),
                             old.assemble(want_t, want_cache))


def test_batched_ipda_trains_as_the_per_part_ipda():
    """Training mode (BN batch statistics): same losses, gradients and
    running statistics for a PDNet with either neck."""
    new_model = build_model(tiny_model_cfg(num_parts=3)).train()
    old_model = copy.deepcopy(new_model)
    old = per_part_ipda(num_parts=3)
    old_model.neck = old
    new_model.neck.load_state_dict(old.state_dict(), strict=True)
    data = new_model.data_preprocessor(demo_batch(n=2, size=64), True)
    results = []
    for model in (old_model, new_model):
        model.zero_grad()
        losses = model.loss(data['inputs'], data['data_samples'])
        sum(losses.values()).backward()
        results.append((losses, model))
    (want, old_model), (got, new_model) = results
    assert set(got) == set(want) and {'loss_geo', 'loss_sem'} <= set(got)
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-5,
                                   msg=name)
    # the old neck's gradients and statistics, converted to the new layout
    grads = {f'neck.{k}': p.grad for k, p in old.named_parameters()}
    IPDA.upgrade_state_dict(grads, 'neck.')
    for name, param in new_model.named_parameters():
        if name.startswith('neck.'):
            torch.testing.assert_close(param.grad, grads[name], rtol=1e-4,
                                       atol=1e-5, msg=name)
    want_state = old_model.neck.state_dict()
    IPDA.upgrade_state_dict(want_state)
    for name, value in new_model.neck.state_dict().items():
        torch.testing.assert_close(value, want_state[name], rtol=1e-5,
                                   atol=1e-6, msg=name)


def test_per_part_checkpoint_loads_strictly_with_the_same_result(tmp_path):
    """A PDNet checkpoint of the per-part layout (state dict version 1)
    loads strictly through the package loader and gives the old model's
    probabilities; so do mmengine's loader and load_state_dict."""
    from mmengine.runner import load_checkpoint, save_checkpoint
    new_model = build_model(tiny_model_cfg(num_parts=3)).eval()
    old_model = copy.deepcopy(new_model)
    old_model.neck = per_part_ipda(num_parts=3).eval()
    state = old_model.state_dict()
    assert state._metadata['neck']['version'] == 1
    assert 'neck.attentions.2.out.bn.num_batches_tracked' in state
    path = str(tmp_path / 'per_part.pth')
    save_checkpoint(state, path)
    x = new_model.data_preprocessor(demo_batch(n=1, size=64),
                                    False)['inputs']
    with torch.no_grad():
        want = old_model(x, mode='tensor').sigmoid()
        for load in (
                lambda m: load_state_dict_checked(m, path, strict=True),
                lambda m: load_checkpoint(m, path, strict=True),
                # no metadata (no version): the key pattern decides
                lambda m: m.load_state_dict(dict(state), strict=True)):
            model = build_model(tiny_model_cfg(num_parts=3)).eval()
            load(model)
            got = model(x, mode='tensor').sigmoid()
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert model.neck.state_dict()[
        'attention.out.bn.num_batches_tracked'].item() == 7
    # a version 2 state dict round-trips unchanged
    again = build_model(tiny_model_cfg(num_parts=3))
    again.load_state_dict(model.state_dict(), strict=True)


def test_per_part_checkpoint_of_another_num_parts_is_refused(tmp_path):
    from mmseg_pdnet.utils import CheckpointError
    old_model = build_model(tiny_model_cfg(num_parts=3))
    old_model.neck = per_part_ipda(num_parts=3)
    path = str(tmp_path / 'p3.pth')
    torch.save(dict(state_dict=old_model.state_dict()), path)
    with pytest.raises(CheckpointError, match='shape-mismatched'):
        load_state_dict_checked(build_model(tiny_model_cfg(num_parts=5)), path)


def test_grouped_layers_keep_the_per_part_initialisation():
    """Kaiming fan_in of a grouped conv is that of one part's conv."""
    torch.manual_seed(0)
    neck = IPDA(num_parts=5)
    neck.init_weights()
    for name, conv, fan_in in (
            ('first 1x1', neck.part_branches[0].conv, 64),
            ('3x3', neck.part_branches[1].conv, 64 * 9),
            ('last 1x1', neck.part_branches[2].conv, 64),
            ('query', neck.attention.query, 64),
            ('out', neck.attention.out.conv, 32)):
        std = conv.weight.std().item()
        assert std == pytest.approx((2 / fan_in)**0.5, rel=0.05), name
    assert neck.part_head.weight.shape == (1, 64, 3, 3)  # ONE shared head


def test_ipda_runs_few_kernels_per_target_frame():
    """The target side of the IPDA (decouple + assemble) runs a fixed
    number of operators, whatever the number of parts."""
    counts = {}
    for p in (1, 5):
        neck = fuse_conv_bn(IPDA(num_parts=p).eval())
        a_t = torch.randn(1, 128, 32, 32)
        with torch.inference_mode():
            cache = neck.encode_reference([torch.randn(1, 128, 32, 32)])
            counts[p], _ = count_ops(
                lambda: neck.assemble(neck.decouple(a_t), cache))
    # decouple: resize 1, adapter 2 x (conv, relu), branches 3 x (conv,
    # relu), part head 1, saliency 1 = 13; assemble: sigmoid, softmax, mul
    # (eq. 1), query conv, bmm, softmax, bmm, out (conv, relu), residual
    # add, eq. 2 mul and sum = 12 (BN folded into the convs)
    assert counts[1] == counts[5] == 25, counts


def test_grouped_group_norm_equals_per_part_group_norm():
    """GN in a grouped part layer gets p times the groups, so that no
    group mixes two parts."""
    from mmseg_pdnet.models.necks.part_cross_attention import \
        grouped_norm_cfg
    gn = dict(type='GN', num_groups=4)
    assert grouped_norm_cfg(gn, 3) == dict(type='GN', num_groups=12)
    assert grouped_norm_cfg(dict(type='BN'), 3) == dict(type='BN')
    grouped = ConvModule(3 * 8, 3 * 8, 3, padding=1, groups=3,
                         norm_cfg=grouped_norm_cfg(gn, 3))
    parts = [ConvModule(8, 8, 3, padding=1, norm_cfg=gn) for _ in range(3)]
    with torch.no_grad():
        for k, part in enumerate(parts):
            rows = slice(8 * k, 8 * (k + 1))
            part.conv.weight.copy_(grouped.conv.weight[rows])
            part.gn.weight.uniform_(0.5, 1.5)
            grouped.gn.weight[rows] = part.gn.weight
        x = torch.randn(2, 3 * 8, 5, 5)
        want = torch.cat([part(x[:, 8 * k:8 * (k + 1)])
                          for k, part in enumerate(parts)], 1)
        torch.testing.assert_close(grouped(x), want)
