"""Real two-process (gloo, CPU) evaluation: one clip's frames on both ranks,
gathered by MMEngine's collect_results, give the single-process numbers."""
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .test_jf_metric import clip_samples, square_clip


def _samples():
    gts = square_clip(9)
    preds = [np.roll(g, t % 3, axis=1) for t, g in enumerate(gts)]
    return (clip_samples('a', preds, gts, 'news') +
            clip_samples('b', gts[:5], gts[:5], 'interview'))


def _worker(rank, port, queue):
    from mmengine.evaluator import Evaluator
    from mmseg.utils import register_all_modules

    import mmseg_pdnet  # noqa: F401
    register_all_modules(init_default_scope=True)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    try:
        samples = _samples()
        evaluator = Evaluator(dict(type='JFMetric'))
        evaluator.process(samples[rank::2])  # DefaultSampler's split
        metrics = evaluator.evaluate(len(samples))  # broadcast to all ranks
        queue.put((rank, metrics))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason='no torch.distributed')
def test_two_rank_gloo_evaluation_matches_single_process():
    from mmseg_pdnet.evaluation import JFMetric
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(port, queue), nprocs=2,
                       start_method='spawn')
    results = dict(queue.get() for _ in range(2))
    single = JFMetric()
    single.process({}, _samples())
    expected = single.compute_metrics(single.results)
    assert results[0] == expected and results[1] == expected
    assert torch.isfinite(torch.tensor(list(expected.values()))).all()
