"""One PDNet training step, eager and compiled, compared: the helpers of
``test_compile.py`` and ``test_compile_inductor.py``."""
import copy
import types

import pytest
import torch
import torch._dynamo
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

from tests.helpers import build_model, demo_batch, tiny_model_cfg

#: the smallest PDNet of the shipped model: ResNet-18 at a quarter of its
#: width (16 to 128 channels), narrow decoder, IPDA and head, 3 parts;
#: every loss term of a video batch (part losses and frozen extractor
#: included). Compile time grows with the number of operators, not with
#: their width; the narrow widths keep the eager steps cheap.
NARROW = {
    'backbone.backbone.stem_channels': 16,
    'backbone.backbone.base_channels': 16,
    'backbone.decoder.in_channels': [16, 32, 64, 128],
    'backbone.decoder.channels': 16,
    'neck.in_channels': 16,
    'neck.channels': 8,
    'neck.attn_channels': 8,
    'decode_head.in_channels': 16,
    'decode_head.channels': 16,
    'decode_head.motion_channels': 8,
}


class KeepGradsOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``update_params`` steps but leaves the
    gradients in place (its ``zero_grad`` clears nothing), so that the
    test reads the gradients the step used."""

    def zero_grad(self, **kwargs) -> None:
        pass


def compiled_like_the_runner(model, compile_cfg):
    """``model.train_step`` compiled by MMEngine's own
    ``Runner._maybe_compile`` (what ``runner.train()`` calls)."""
    stand_in = types.SimpleNamespace(
        cfg=Config(dict(compile=compile_cfg)), model=model,
        logger=MMLogger.get_current_instance())
    Runner._maybe_compile(stand_in, 'train_step')
    assert model.train_step is not type(model).train_step.__get__(model)


def run_step(model, batch):
    """One ``train_step`` (SGD, lr 0.1): the logged losses, every
    parameter's gradient."""
    optim_wrapper = KeepGradsOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1))
    model.zero_grad(set_to_none=True)
    log_vars = model.train_step(copy.deepcopy(batch),
                                optim_wrapper=optim_wrapper)
    grads = {n: p.grad.detach().clone()
             for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in log_vars.items()}, grads


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()  # frees the compiled graphs


def assert_same_step(eager, compiled, eager_out, compiled_out):
    """The compiled step's losses, gradients, updated weights and BN
    statistics equal the eager step's."""
    (eager_losses, eager_grads), (compiled_losses, compiled_grads) = \
        eager_out, compiled_out
    assert set(compiled_losses) == set(eager_losses)
    assert {'loss_seg', 'loss_side', 'loss_geo', 'loss_sem', 'loss_area',
            'loss_ortho', 'loss_ref_side'} <= set(eager_losses)
    for name, value in eager_losses.items():
        assert compiled_losses[name] == pytest.approx(value, rel=1e-5), name

    # Gradients: a compiled graph sums float32 terms in another order
    # (fused reductions: BN statistics, convolution backward, the losses'
    # means), so a gradient differs from eager by rounding, about 1e-6 of
    # the terms it is summed from. Relative to the parameter's own
    # gradient that is meaningful only where the gradient is not itself
    # rounding: the IPDA's part_head.bias adds one constant to the logits
    # of every part, which the softmax over parts cancels, so its exact
    # gradient is 0 and the computed one (1e-9 of the total norm) is noise
    # whose relative error is 100 % under inductor. Those are bounded by
    # the term relative to the total gradient norm; a real error (a wrong
    # kernel, a dropped loss term, BN in the wrong mode) moves gradients
    # by far more than either bound. Nothing in the step is random (no
    # dropout, the batch is fixed), and BN statistics are checked below.
    assert set(compiled_grads) == set(eager_grads)
    total = torch.sqrt(sum(g.pow(2).sum() for g in eager_grads.values()))
    for name, g in eager_grads.items():
        err = (compiled_grads[name] - g).norm()
        assert err <= 1e-3 * g.norm() + 1e-5 * total, (
            name, err.item(), g.norm().item(), total.item())

    # the SGD step of update_params, and the BN running statistics:
    # updated once per encoder call as in eager (a BN updated twice, e.g.
    # by a frame run again after a graph break, fails here)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
    for (name, b), c in zip(eager.named_buffers(), compiled.buffers()):
        if b.dtype == torch.long:  # num_batches_tracked
            assert torch.equal(c, b), name
        else:
            torch.testing.assert_close(c, b, rtol=1e-4, atol=1e-5,
                                       msg=name)


def eager_and_copy():
    torch.manual_seed(0)
    eager = build_model(tiny_model_cfg(**NARROW)).train()
    # copied before any step: the same weights and BN statistics
    return eager, copy.deepcopy(eager)


def assert_runner_compile_gives_the_eager_step(backend: str) -> None:
    """``train_step`` compiled by MMEngine's ``_maybe_compile`` with
    ``backend`` gives the eager step (:func:`assert_same_step`) on a fixed
    video batch, through at least one dynamo graph."""
    eager, compiled = eager_and_copy()
    batch = demo_batch(n=2, size=64)
    compiled_like_the_runner(compiled, dict(backend=backend))
    assert_same_step(eager, compiled, run_step(eager, batch),
                     run_step(compiled, batch))
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] > 0
