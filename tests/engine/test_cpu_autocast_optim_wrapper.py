"""CPUAutocastOptimWrapper: PDNet's training step under CPU bfloat16
autocast, float32 parameters and optimizer state, the 'auto' switch."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmseg_pdnet.engine.optimizers import (CPUAutocastOptimWrapper,
                                           cpu_has_native_bf16)
from tests.helpers import build_tiny_model, demo_batch

init_default_scope('mmseg')


def wrapper(model, enabled):
    return build_optim_wrapper(model, dict(
        type='CPUAutocastOptimWrapper', enabled=enabled,
        optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=10.)))


def conv_output_dtypes(model, batch, optim_wrapper):
    """The dtypes of every conv output in one ``train_step``."""
    dtypes = set()
    hooks = [m.register_forward_hook(
        lambda mod, args, out: dtypes.add(out.dtype))
        for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        losses = model.train_step(batch, optim_wrapper)
    finally:
        for h in hooks:
            h.remove()
    return dtypes, losses


def test_train_step_runs_convs_in_bf16_and_keeps_float32_state():
    torch.manual_seed(0)
    model = build_tiny_model()
    model.train()
    optim_wrapper = wrapper(model, enabled=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dtypes, losses = conv_output_dtypes(model, demo_batch(2, 64),
                                        optim_wrapper)
    assert dtypes == {torch.bfloat16}
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert all(v.dtype == torch.float32 for v in losses.values())
    changed = [n for n, p in model.named_parameters()
               if not torch.equal(p, before[n])]
    assert changed  # the optimizer stepped
    assert all(p.dtype == torch.float32 for p in model.parameters())
    state = optim_wrapper.state_dict()['state']
    assert state and all(s['exp_avg'].dtype == torch.float32
                         for s in state.values())


def test_disabled_is_float32_and_equals_a_plain_optim_wrapper():
    torch.manual_seed(0)
    model = build_tiny_model()
    model.train()
    batch = demo_batch(2, 64)
    dtypes, losses = conv_output_dtypes(model, batch,
                                        wrapper(model, enabled=False))
    assert dtypes == {torch.float32}
    torch.manual_seed(0)
    plain_model = build_tiny_model()
    plain_model.train()
    plain = plain_model.train_step(batch, build_optim_wrapper(
        plain_model, dict(type='OptimWrapper',
                          optimizer=dict(type='AdamW', lr=1e-3),
                          clip_grad=dict(max_norm=10.))))
    assert losses.keys() == plain.keys()
    for k in losses:
        torch.testing.assert_close(losses[k], plain[k], rtol=0, atol=0)


def test_auto_follows_the_cpu():
    model = torch.nn.Linear(2, 2)
    assert wrapper(model, 'auto').enabled == cpu_has_native_bf16()
    assert wrapper(model, True).enabled is True


def test_a_bad_enabled_value_is_named():
    with pytest.raises(ValueError, match="enabled must be True, False or "
                       "'auto', got 'yes'"):
        CPUAutocastOptimWrapper(
            enabled='yes',
            optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(),
                                      lr=0.1))
