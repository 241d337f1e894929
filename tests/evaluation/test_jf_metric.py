import json

import numpy as np
import pytest
import torch

from mmseg_pdnet.evaluation import JFMetric, summarize
from mmseg_pdnet.evaluation.metrics.jf_core import evaluate_frame


def sample(seq, idx, pred, gt, category=None):
    return dict(seq_name=seq, frame_idx=idx, category=category,
                pred_sem_seg=dict(data=torch.from_numpy(pred[None]).long()),
                gt_sem_seg=dict(data=torch.from_numpy(gt[None]).long()))


def clip(n, shift, h=24, w=30):
    """GT square moving right; prediction offset by ``shift`` pixels."""
    out = []
    for t in range(n):
        gt = np.zeros((h, w), np.uint8)
        gt[5:15, 2 + t:12 + t] = 1
        pred = np.roll(gt, shift, axis=1)
        out.append((pred, gt))
    return out


def run(metric, samples):
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_perfect_predictions(tmp_path):
    metric = JFMetric(output_dir=str(tmp_path))
    samples = [sample('a', t, p, g, 'news')
               for t, (p, g) in enumerate(clip(6, 0))]
    res = run(metric, samples)
    assert res['J&F'] == pytest.approx(100.0)
    assert res['J_recall'] == 100.0 and res['J_decay'] == 0.0
    assert res['T_instability'] == 0.0
    saved = json.loads((tmp_path / 'jf_results.json').read_text())
    assert saved['per_category']['news']['J&F'] == pytest.approx(1.0)
    assert (tmp_path / 'jf_results.csv').read_text().startswith('name,J&F')


def test_first_and_last_frames_dropped_by_default():
    frames = clip(5, 0)
    frames[0] = (np.zeros_like(frames[0][0]), frames[0][1])  # bad first
    samples = [sample('a', t, p, g) for t, (p, g) in enumerate(frames)]
    assert run(JFMetric(), samples)['J_mean'] == pytest.approx(100.0)
    kept = run(JFMetric(keep_first_last=True), samples)
    assert kept['J_mean'] == pytest.approx(100 * 4 / 5)


def test_sequences_average_and_categories():
    samples = [sample('a', t, p, g, 'news')
               for t, (p, g) in enumerate(clip(5, 0))]
    samples += [sample('b', t, np.zeros_like(g), g, 'lecture')
                for t, (_, g) in enumerate(clip(5, 0))]
    res = run(JFMetric(), samples)
    assert res['J_mean'] == pytest.approx(50.0)
    summary = summarize([
        dict(evaluate_frame(s['pred_sem_seg']['data'][0].numpy(),
                            s['gt_sem_seg']['data'][0].numpy()),
             seq_name=s['seq_name'], frame_idx=s['frame_idx'],
             category=s['category']) for s in samples])
    assert summary['per_category']['lecture']['J']['mean'] == 0.0
    assert summary['per_category']['news']['J']['mean'] == 1.0


def test_short_sequences_are_excluded_with_a_warning():
    samples = [sample('short', t, p, g) for t, (p, g) in enumerate(clip(2,
                                                                        0))]
    samples += [sample('long', t, p, g) for t, (p, g) in enumerate(clip(4,
                                                                       1))]
    summary = summarize([
        dict(evaluate_frame(s['pred_sem_seg']['data'][0].numpy(),
                            s['gt_sem_seg']['data'][0].numpy()),
             seq_name=s['seq_name'], frame_idx=s['frame_idx'])
        for s in samples])
    assert summary['skipped'] == ['short']
    assert summary['num_sequences'] == 1


def test_distributed_split_gives_the_same_numbers():
    """Frames of one clip on two ranks, interleaved as DefaultSampler does."""
    samples = [sample('a', t, p, g) for t, (p, g) in enumerate(clip(9, 2))]
    single = JFMetric()
    single.process({}, samples)
    ranks = [JFMetric(), JFMetric()]
    for r in range(2):
        ranks[r].process({}, samples[r::2])
    gathered = ranks[0].results + ranks[1].results  # what collect_results
    assert JFMetric().compute_metrics(gathered) == pytest.approx(
        single.compute_metrics(single.results), nan_ok=True)


def test_prediction_at_another_size_is_resized_to_the_ground_truth():
    p, g = clip(3, 0)[1]
    small = p[::2, ::2]
    metric = JFMetric()
    metric.process({}, [sample('a', 0, small, g)])
    # edges move by at most one pixel of the 10x10 square: J >= 81 / 121
    assert 0.66 < metric.results[0]["J"] <= 1.0


def test_missing_metainfo_is_a_clear_error():
    p, g = clip(1, 0)[0]
    s = sample('a', 0, p, g)
    del s['seq_name']
    with pytest.raises(KeyError, match='seq_name'):
        JFMetric().process({}, [s])
