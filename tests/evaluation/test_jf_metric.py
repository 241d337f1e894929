import csv
import json
import math
import pickle

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from mmseg_pdnet.evaluation import JFMetric
from mmseg_pdnet.evaluation.metrics import jf_summary

KEYS = ['J&F', 'J_mean', 'J_recall', 'J_decay', 'F_mean', 'F_recall',
        'F_decay', 'stability']


def sample(seq, idx, pred, gt, num_frames=None, category=None):
    """A data sample as MMEngine hands it to ``process`` (a dict)."""
    return dict(seq_name=seq, frame_idx=idx, num_frames=num_frames,
                category=category, img_path=f'{seq}/{idx:05d}.jpg',
                pred_sem_seg=dict(data=torch.from_numpy(pred[None]).long()),
                gt_sem_seg=dict(data=torch.from_numpy(gt[None]).long()))


def square_clip(n, h=24, w=30):
    """GT square moving one pixel right per frame."""
    gts = []
    for t in range(n):
        gt = np.zeros((h, w), np.uint8)
        gt[5:15, 2 + t % 15:12 + t % 15] = 1
        gts.append(gt)
    return gts


def clip_samples(seq, preds, gts, category=None):
    return [sample(seq, t, p, g, len(gts), category)
            for t, (p, g) in enumerate(zip(preds, gts))]


def evaluate(samples, **kwargs):
    metric = JFMetric(**kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_perfect_predictions_and_outputs(tmp_path):
    gts = square_clip(6)
    res = evaluate(clip_samples('a', gts, gts, 'news'),
                   output_dir=str(tmp_path))
    assert list(res) == KEYS
    assert res == {**{k: 100.0 for k in KEYS}, 'J_decay': 0.0,
                   'F_decay': 0.0}
    saved = json.loads((tmp_path / 'jf_results.json').read_text())
    assert saved['J&F'] == 1.0 and saved['stability'] == 1.0
    assert saved['per_category']['news']['J']['mean'] == 1.0
    seq = saved['per_sequence']['a']
    assert (seq['num_frames'], seq['num_scored']) == (6, 4)
    rows = list(csv.reader((tmp_path / 'jf_results.csv').open()))
    assert rows[0][:3] == ['level', 'name', 'J&F']
    assert [r[:2] for r in rows[1:]] == [['all', 'all'],
                                         ['category', 'news'],
                                         ['sequence', 'a']]


def test_first_and_last_frames_dropped_by_default():
    gts = square_clip(5)
    preds = [np.zeros_like(g) for g in gts[:1]] + gts[1:4] + [gts[4] * 0]
    samples = clip_samples('a', preds, gts)
    res = evaluate(samples)
    assert res['J_mean'] == 100.0 and res['stability'] == 100.0
    kept = evaluate(samples, keep_first_last=True)
    assert kept['J_mean'] == pytest.approx(100 * 3 / 5)
    assert kept['J_recall'] == pytest.approx(100 * 3 / 5)
    # N = 5: bins [0, 1] and [3, 4]: J 0.5 - 0.5
    assert kept['J_decay'] == pytest.approx(0.0)
    # pair (0, 1): D = P1 xor G0 xor G1 = G0 (100 px) over the union
    # |G0 or G1| = 110 px; (3, 4) likewise; (1, 2), (2, 3) agree
    assert kept['stability'] == pytest.approx(100 * (1 - 2 * 100 / 110 / 4))


def test_dataset_mean_is_over_sequences_and_categories(tmp_path):
    gts = square_clip(5)
    empty = [np.zeros_like(g) for g in gts]
    samples = clip_samples('a', gts, gts, 'news')
    samples += clip_samples('b', empty, gts, 'lecture')
    samples += clip_samples('c', gts + gts, gts + gts, 'lecture')
    res = evaluate(samples, output_dir=str(tmp_path))
    # sequence means 1, 0, 1 (not frame-weighted: 'c' has 10 frames)
    assert res['J_mean'] == pytest.approx(100 * 2 / 3)
    assert res['F_mean'] == pytest.approx(100 * 2 / 3)
    assert res['J&F'] == pytest.approx(100 * 2 / 3)
    saved = json.loads((tmp_path / 'jf_results.json').read_text())
    assert list(saved['per_category']) == ['lecture', 'news']
    assert saved['per_category']['lecture']['J']['mean'] == 0.5
    assert saved['per_category']['lecture']['num_sequences'] == 2
    assert saved['per_sequence']['b']['F']['recall'] == 0.0


@pytest.mark.parametrize('n, scored', [(1, 0), (2, 0), (3, 1), (10, 8),
                                       (100, 98), (300, 298)])
def test_sequence_lengths(n, scored, tmp_path):
    """Sequences of 1 and 2 frames have nothing left once the first and last
    are dropped: NaN, reported, left out of the averages."""
    gts = square_clip(n, h=12, w=40)
    # prediction right in the first half of the clip, empty afterwards
    preds = [g if t < n / 2 else g * 0 for t, g in enumerate(gts)]
    ref = clip_samples('ref', square_clip(4), square_clip(4))  # perfect
    res = evaluate(clip_samples('s', preds, gts) + ref,
                   output_dir=str(tmp_path))
    seq = json.loads(
        (tmp_path / 'jf_results.json').read_text())['per_sequence']['s']
    assert seq['num_scored'] == scored
    if scored == 0:
        assert seq['J']['mean'] is None and seq['J&F'] is None
        assert res['J_mean'] == 100.0  # only 'ref' counts
        return
    x = np.array([1.0 if t < n / 2 else 0.0 for t in range(1, n - 1)])
    assert seq['J']['mean'] == pytest.approx(x.mean())
    assert res['J_mean'] == pytest.approx(100 * (x.mean() + 1) / 2)
    # Decay: bin 0 is all 1 and bin 3 all 0 for n >= 10 (1 for the
    # uint8 toolkit's n = 300 case would be NaN)
    expected_decay = 0.0 if scored == 1 else 1.0
    assert seq['J']['decay'] == pytest.approx(expected_decay)


@pytest.fixture
def logged(monkeypatch):
    """Messages the summary logs (MMLogger does not propagate to caplog)."""
    messages = []
    monkeypatch.setattr(jf_summary, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    return messages


def test_short_sequences_excluded_with_a_warning(logged):
    gts = square_clip(2)
    samples = clip_samples('short', gts, gts)
    res = evaluate(samples + clip_samples('long', square_clip(4),
                                          square_clip(4)))
    assert res['J_mean'] == 100.0
    assert any("['short'] have no frame left" in m for m in logged)
    # one scored frame: J/F defined, stability has no pair
    res = evaluate(clip_samples('three', square_clip(3), square_clip(3)))
    assert res['J&F'] == 100.0 and math.isnan(res['stability'])
    assert any("['three'] have no two consecutive" in m for m in logged)
    # nothing scored at all: NaN everywhere, not an exception
    res = evaluate(samples)
    assert all(math.isnan(v) for v in res.values())


def test_distributed_split_gives_the_same_numbers():
    """One clip's frames on two ranks, as DefaultSampler interleaves them;
    results go through pickle as in collect_results."""
    gts = square_clip(9)
    preds = [np.roll(g, t % 3, axis=1) for t, g in enumerate(gts)]
    samples = clip_samples('a', preds, gts, 'news')
    samples += clip_samples('b', gts[:5], gts[:5], 'interview')
    single = JFMetric()
    single.process({}, samples)
    ranks = [JFMetric(), JFMetric()]
    for r in range(2):
        for i in range(r, len(samples), 2):  # rank r gets r, r + 2, ...
            ranks[r].process({}, [samples[i]])
    gathered = pickle.loads(pickle.dumps(ranks[1].results + ranks[0].results))
    expected = single.compute_metrics(single.results)
    assert JFMetric().compute_metrics(gathered) == expected
    assert 0 < expected['stability'] < 100


def test_works_through_mmengine_evaluator():
    gts = square_clip(4)
    evaluator = Evaluator(dict(type='JFMetric', keep_first_last=True))
    half = clip_samples('a', gts, gts)
    evaluator.process(half[:2])
    evaluator.process(half[2:])
    assert evaluator.evaluate(4) == {k: (0.0 if 'decay' in k else 100.0)
                                     for k in KEYS}


def test_prediction_at_another_size_is_resized_nearest():
    gt = np.zeros((24, 30), np.uint8)
    gt[4:16, 6:18] = 1
    small = gt[::2, ::2]  # 12x15, resized back exactly
    metric = JFMetric()
    metric.process({}, [sample('a', 0, small, gt)])
    assert metric.results[0]['J'] == 1.0


def test_bad_samples_are_clear_errors():
    gt = square_clip(1)[0]
    s = sample('a', 0, gt, gt)
    del s['seq_name']
    with pytest.raises(KeyError, match=r"a/00000.jpg.*seq_name"):
        JFMetric().process({}, [s])
    s = sample('a', 0, gt, gt)
    del s['pred_sem_seg']
    with pytest.raises(KeyError, match='pred_sem_seg'):
        JFMetric().process({}, [s])
    s = sample('a', 0, gt, gt)
    s['pred_sem_seg']['data'] = torch.zeros(2, 24, 30)
    with pytest.raises(ValueError, match=r'\(1, H, W\)'):
        JFMetric().process({}, [s])
    metric = JFMetric()
    metric.process({}, [sample('a', 0, gt, gt), sample('a', 0, gt, gt)])
    with pytest.raises(ValueError, match='more than once'):
        metric.compute_metrics(metric.results)


def test_missing_frames_warn_and_score_the_rest(logged):
    gts = square_clip(6)
    samples = clip_samples('a', gts, gts)
    del samples[2]
    metric = JFMetric()
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    assert res['J_mean'] == 100.0
    assert any("'a' has 5 of its 6 annotated frames" in m for m in logged)


@pytest.fixture
def runner_logger(tmp_path):
    """A current MMLogger with a log file, as a runner creates; removed
    afterwards so other tests see the previous current logger."""
    from mmengine.logging import MMLogger
    log_dir = tmp_path / '20260101_000000'
    log_dir.mkdir()
    logger = MMLogger.get_instance('jf_metric_test',
                                   log_file=str(log_dir / 'run.log'))
    yield log_dir
    MMLogger._instance_dict.pop('jf_metric_test')
    for handler in logger.handlers:
        handler.close()


def test_default_output_dir_is_the_runner_log_folder(runner_logger):
    gts = square_clip(3)
    evaluate(clip_samples('a', gts, gts))
    assert sorted(p.name for p in runner_logger.iterdir()) == [
        'jf_results.csv', 'jf_results.json', 'run.log']
    assert 'J&F results written to' in (runner_logger / 'run.log').read_text()


def test_explicit_output_dir_wins(runner_logger, tmp_path):
    gts = square_clip(3)
    evaluate(clip_samples('a', gts, gts), output_dir=str(tmp_path / 'out'))
    assert (tmp_path / 'out' / 'jf_results.json').is_file()
    assert not (runner_logger / 'jf_results.json').exists()


def test_nothing_written_without_a_log_file(tmp_path, monkeypatch):
    from mmengine.logging import MMLogger

    from mmseg_pdnet.evaluation.metrics.jf_metric import _runner_log_dir
    logger = MMLogger.get_instance('jf_metric_no_file')
    try:
        assert _runner_log_dir() is None
        monkeypatch.chdir(tmp_path)
        gts = square_clip(3)
        assert evaluate(clip_samples('a', gts, gts))['J&F'] == 100.0
        assert list(tmp_path.iterdir()) == []
    finally:
        MMLogger._instance_dict.pop('jf_metric_no_file')
        for handler in logger.handlers:
            handler.close()
