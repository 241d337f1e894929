"""Kernel launches of a training step: the aten operators of one
PDNet-R50 step (paper config, batch 2, p = 5, forward + backward, views
excluded; :func:`mmseg_pdnet.utils.benchmarking.count_ops`).

On a GPU a step at the paper's batch of 2 is bound by kernel launches, so
the count is a deterministic proxy for its speed. It does not depend on
the input size (identical at 64x64, 96x96 and 480x480), so it is counted
at 64x64. The encoder (ResNet-50 and decoder, both frames, forward and
backward) takes 1,165 operators; the rest (IPDA, heads, the losses of six
outputs per frame, part losses, frozen extractor) took 1,659 when every
loss term ran on its own (2,824 in all) and now takes about 600.
"""
from mmseg_pdnet.utils.benchmarking import count_ops
from mmseg_pdnet.utils.benchmarking.training import (train_step,
                                                     training_batch)
from tests.helpers import PAPER_CONFIG, build_model, r50_model_cfg

#: 0.75x the step's 3,044 operators before the losses were fused
MAX_OPS = 2283


def test_paper_model_training_step_launches_at_most_2283_operators():
    model = build_model(r50_model_cfg(PAPER_CONFIG)).train()
    inputs, samples = training_batch(2, 64, model.num_refs, 'cpu')
    step = train_step(model, inputs, samples)
    step()  # as the benchmark: counted after one warm-up step
    total, by_name = count_ops(step)
    print(f'training step: {total} operators, {by_name.most_common(5)}')
    assert total <= MAX_OPS
    # fp32: no dtype casts but the masks' (long -> float)
    assert by_name['aten._to_copy'] <= 8
