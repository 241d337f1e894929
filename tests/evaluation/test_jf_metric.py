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


# --------------------------------------------------------------------------
# Binarisation protocols: DAVIS-style p >= 0.5 and the authors' round(255 p)
# --------------------------------------------------------------------------
EDGE = np.float32(1 / 510)  # round(255 p) = round(0.5) = 0: background


def prob_sample(seq, idx, prob, gt, num_frames=None):
    """A sample as PDNet predicts it: probability and the model's mask."""
    s = sample(seq, idx, (prob > 0.5).astype(np.uint8), gt, num_frames)
    s['seg_logits'] = dict(data=torch.from_numpy(
        np.asarray(prob, np.float32)[None]))
    return s


def oracle_boundary(mask):
    """docs/evaluation.md's boundary rule, pixel by pixel."""
    h, w = mask.shape
    at = lambda i, j: bool(mask[i, j]) if i < h and j < w else False  # noqa
    b = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            if i == h - 1 and j == w - 1:
                continue
            if i == h - 1:
                nbrs = [(i, j + 1)]
            elif j == w - 1:
                nbrs = [(i + 1, j)]
            else:
                nbrs = [(i, j + 1), (i + 1, j), (i + 1, j + 1)]
            b[i, j] = any(at(i, j) != at(*n) for n in nbrs)
    return b


def oracle_jf(pred, gt):
    """(J, F) of one frame by brute force (plain numpy, no OpenCV)."""
    union = np.count_nonzero(pred | gt)
    j = 1.0 if union == 0 else np.count_nonzero(pred & gt) / union
    pb, gb = oracle_boundary(pred), oracle_boundary(gt)
    if not pb.any() and not gb.any():
        return j, 1.0
    if not pb.any() or not gb.any():
        return j, 0.0
    r = math.ceil(0.008 * math.hypot(*gt.shape))

    def matched(src, ref):
        pts = np.argwhere(ref)
        return sum(((pts - p) ** 2).sum(1).min() <= r * r
                   for p in np.argwhere(src))

    p = matched(pb, gb) / pb.sum()
    rec = matched(gb, pb) / gb.sum()
    return j, 0.0 if p + rec == 0 else 2 * p * rec / (p + rec)


def blob_clip(n=5, h=24, w=30):
    """GT: a 10x10 square moving right. p: 0.9 on the square; 0.3 on one
    far pixel in frames 1 and 2 (foreground only for the authors); exactly
    1/510 on row 0 and 0.0019 on row 1 (background for both)."""
    gts, probs = square_clip(n, h, w), []
    for t, gt in enumerate(gts):
        p = np.where(gt > 0, 0.9, 0.0).astype(np.float32)
        p[0], p[1, :10] = EDGE, 0.0019
        if t in (1, 2):
            p[20, 26] = 0.3
        probs.append(p)
    return probs, gts


def test_protocols_give_the_hand_computed_values(tmp_path):
    probs, gts = blob_clip()
    samples = [prob_sample('a', t, p, g, len(gts))
               for t, (p, g) in enumerate(zip(probs, gts))]
    davis = evaluate(samples)
    authors = evaluate(samples, threshold='authors')
    both = evaluate(samples, extra_thresholds=['authors'],
                    output_dir=str(tmp_path))
    assert davis['J&F'] == 100.0 and davis['stability'] == 100.0
    # scored frames 1, 2, 3; frames 1 and 2 gain the 1-pixel blob:
    # J = 100 / 101; F: P = 40 / 44 (square boundary 2 (10 + 10), blob's
    # 2x2 block out of reach), R = 1, so F = 80 / 84
    j = (2 * 100 / 101 + 1) / 3
    f = (2 * 80 / 84 + 1) / 3
    assert authors['J_mean'] == pytest.approx(100 * j)
    assert authors['F_mean'] == pytest.approx(100 * f)
    assert authors['J&F'] == pytest.approx(100 * (j + f) / 2)
    # the blob vanishes between frames 2 and 3: d = 1 / 111
    assert authors['stability'] == pytest.approx(100 * (1 - 1 / 111 / 2))
    assert both == {**davis, **{f'authors/{k}': v
                                for k, v in authors.items()}}
    assert list(both) == KEYS + [f'authors/{k}' for k in KEYS]
    # brute-force oracle on the plain-numpy rules
    for rule, res in ((lambda p: p >= 0.5, davis),
                      (lambda p: np.round(255 * p) >= 1, authors)):
        per_frame = [oracle_jf(rule(p), g > 0)
                     for p, g in zip(probs[1:-1], gts[1:-1])]
        assert res['J_mean'] == pytest.approx(
            100 * np.mean([x[0] for x in per_frame]))
        assert res['F_mean'] == pytest.approx(
            100 * np.mean([x[1] for x in per_frame]))
    # both files, each naming its binarisation
    main = json.loads((tmp_path / 'jf_results.json').read_text())
    extra = json.loads((tmp_path / 'jf_results_authors.json').read_text())
    assert main['binarisation'] == 'p >= 0.5 (DAVIS-style)'
    assert extra['binarisation'].startswith('authors: round(255 p) >= 1')
    assert extra['J&F'] == pytest.approx(authors['J&F'] / 100)
    assert (tmp_path / 'jf_results_authors.csv').is_file()


def test_protocols_match_the_oracle_on_soft_maps():
    """Smooth probability maps: the two protocols cut different outlines."""
    h, w = 30, 40
    yy, xx = np.mgrid[:h, :w]
    probs, gts = [], []
    for t in range(3):
        d2 = (yy - 15) ** 2 + (xx - 12 - 4 * t) ** 2
        probs.append(np.exp(-d2 / 60).astype(np.float32))
        gts.append((d2 <= 36).astype(np.uint8))
    samples = [prob_sample('s', t, p, g, 3)
               for t, (p, g) in enumerate(zip(probs, gts))]
    res = evaluate(samples, threshold=0.3, keep_first_last=True,
                   extra_thresholds=('authors', 0.5))
    for rule, name in ((lambda p: p >= 0.3, ''),
                       (lambda p: np.round(255 * p) >= 1, 'authors/'),
                       (lambda p: p >= 0.5, 'th0.5/')):
        per_frame = [oracle_jf(rule(p), g > 0) for p, g in zip(probs, gts)]
        j = np.mean([x[0] for x in per_frame])
        f = np.mean([x[1] for x in per_frame])
        assert res[name + 'J_mean'] == pytest.approx(100 * j)
        assert res[name + 'F_mean'] == pytest.approx(100 * f)
    assert len({res['J&F'], res['authors/J&F'], res['th0.5/J&F']}) == 3


def test_both_tables_are_logged(monkeypatch):
    from mmseg_pdnet.evaluation.metrics import jf_metric
    messages = []
    monkeypatch.setattr(jf_metric, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    probs, gts = blob_clip(3)
    evaluate([prob_sample('a', t, p, g) for t, (p, g) in
              enumerate(zip(probs, gts))], extra_thresholds='authors')
    tables = [m for m in messages if m.startswith('J&F (')]
    assert len(tables) == 2
    assert 'binarisation: p >= 0.5 (DAVIS-style)\n' in tables[0]
    assert 'binarisation: authors: round(255 p) >= 1' in tables[1]


def test_protocols_survive_distributed_gathering():
    probs, gts = blob_clip(6)
    samples = [prob_sample('a', t, p, g, 6)
               for t, (p, g) in enumerate(zip(probs, gts))]
    single = JFMetric(extra_thresholds=['authors'])
    single.process({}, samples)
    ranks = [JFMetric(extra_thresholds=['authors']) for _ in range(2)]
    for i, s in enumerate(samples):
        ranks[i % 2].process({}, [s])
    gathered = pickle.loads(pickle.dumps(ranks[1].results + ranks[0].results))
    expected = single.compute_metrics(single.results)
    assert ranks[0].compute_metrics(gathered) == expected
    assert expected['authors/J&F'] < expected['J&F'] == 100.0


def test_probability_is_used_when_present():
    """p = 0.5 is foreground (p >= 0.5) whatever the model's mask says."""
    gt = np.zeros((24, 30), np.uint8)
    gt[4:16, 6:18] = 1
    prob = gt * np.float32(0.5)
    s = prob_sample('a', 0, prob, gt)
    s['pred_sem_seg']['data'] = torch.zeros(1, 24, 30).long()  # p > 0.5
    metric = JFMetric()
    metric.process({}, [s])
    assert metric.results[0]['J'] == 1.0
    metric = JFMetric(threshold=0.6)
    metric.process({}, [s])
    assert metric.results[0]['J'] == 0.0


def test_protocol_errors():
    gt = square_clip(1)[0]
    for kwargs in (dict(threshold=0), dict(threshold='davis'),
                   dict(extra_thresholds=[1.0])):
        with pytest.raises(ValueError, match='threshold must be a float'):
            JFMetric(**kwargs)
    with pytest.raises(ValueError, match='repeat a binarisation'):
        JFMetric(threshold='authors', extra_thresholds=['authors'])
    # no probability: fine for the default, an error naming the file else
    for kwargs in (dict(threshold='authors'), dict(threshold=0.4),
                   dict(extra_thresholds=['authors'])):
        with pytest.raises(KeyError, match=r"a/00000\.jpg.*'seg_logits'"):
            JFMetric(**kwargs).process({}, [sample('a', 0, gt, gt)])
    s = prob_sample('a', 0, gt * 3.0, gt)  # logits, not probabilities
    with pytest.raises(ValueError, match=r'a/00000\.jpg: seg_logits must '
                       r'hold foreground probabilities in \[0, 1\]'):
        JFMetric().process({}, [s])
    s = prob_sample('a', 0, gt, gt)
    s['seg_logits']['data'] = s['seg_logits']['data'].long()
    with pytest.raises(ValueError, match='floating-point'):
        JFMetric().process({}, [s])
