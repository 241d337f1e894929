"""``cfg.compile`` with inductor (code generation) on the CPU.

Every loss term of a video batch compiled by inductor inside the eager
step gives the eager step (about 35 s on a 2-core CPU with an empty
inductor cache, seconds with a warm one). Inductor on the whole step
compiles for minutes there: it runs only with ``PDNET_TEST_INDUCTOR=1``.
Apart from test_compile.py so that the two files share the test workers.
"""
import os

import pytest
import torch
import torch._dynamo

from tests.engine.compile_steps import (  # noqa: F401  (fixture)
    assert_runner_compile_gives_the_eager_step, assert_same_step,
    eager_and_copy, fresh_dynamo, run_step)
from tests.helpers import demo_batch


@pytest.mark.skipif(not os.environ.get('PDNET_TEST_INDUCTOR'),
                    reason='minutes of inductor compile: '
                    'PDNET_TEST_INDUCTOR=1')
def test_inductor_train_step_gives_the_eager_step(fresh_dynamo):
    """Inductor compiles the whole step (encoder twice, IPDA, heads, frozen
    extractor, every loss, forward and backward, and the SGD step): 4 to 6
    minutes on a 2-core CPU."""
    assert_runner_compile_gives_the_eager_step('inductor')


def test_inductor_losses_give_the_eager_step(fresh_dynamo):
    """Every loss term of a video batch (Lseg of the final, side and
    saliency outputs of both frames, the part losses) compiled by inductor,
    forward and backward, inside the eager train_step: the same losses,
    gradients and step."""
    eager, compiled = eager_and_copy()
    batch = demo_batch(n=2, size=64)
    seg_loss = compiled.decode_head.loss_decode
    seg_loss.forward_multi = torch.compile(
        seg_loss.forward_multi, backend='inductor', dynamic=False)
    compiled.part_loss.forward_frames = torch.compile(
        compiled.part_loss.forward_frames, backend='inductor',
        dynamic=False)
    assert_same_step(eager, compiled, run_step(eager, batch),
                     run_step(compiled, batch))
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] >= 2
