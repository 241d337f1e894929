import csv
import os
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_pdnet.evaluation import (JFMetric, binarize_prediction,
                                    describe_pred_format, read_prediction)


def write_masks(root, seq, masks, scale=255):
    (root / seq).mkdir(parents=True, exist_ok=True)
    for t, m in enumerate(masks):
        cv2.imwrite(str(root / seq / f'{t:05d}.png'),
                    np.round(m * scale).astype(np.uint8))


def write_palette(path, mask):
    img = Image.fromarray(mask.astype(np.uint8), 'P')
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)  # DAVIS
    img.save(path)


def moving_square(n=5):
    out = []
    for t in range(n):
        m = np.zeros((20, 24), np.float32)
        m[4:12, 2 + t:10 + t] = 1
        out.append(m)
    return out


@pytest.fixture
def run(load_tool, capsys):
    tool = load_tool('eval_masks.py')

    def call(*args):
        code = tool.main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.mark.parametrize('scale', [1, 255])
def test_binary_predictions(tmp_path, scale, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt, scale=scale)
    out, table = tmp_path / 'res.json', tmp_path / 'res.csv'
    code, stdout, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                            tmp_path / 'pred', '--json', out, '--csv', table)
    assert code == 0, err
    assert 'J&F 100.0' in stdout
    res = json.loads(out.read_text())
    assert res['J&F'] == 1.0 and res['stability'] == 1.0
    assert res['J'] == {'mean': 1.0, 'recall': 1.0, 'decay': 0.0}
    assert res['F'] == {'mean': 1.0, 'recall': 1.0, 'decay': 0.0}
    assert res['per_sequence']['a']['num_scored'] == 3
    assert res['per_category'] == {}
    rows = list(csv.reader(table.open()))
    assert rows[1][:3] == ['all', 'all', '1.000000']


def test_probability_maps_threshold_at_128(tmp_path, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    out = tmp_path / 'res.json'
    args = ('--gt-root', tmp_path / 'gt', '--pred-root', tmp_path / 'pred',
            '--json', out)
    # a probability map: 0.3 outside the square (77), p inside
    for inside, expected in ((127, 0.0), (128, 1.0)):
        maps = [np.where(g > 0, inside, 77) for g in gt]
        write_masks(tmp_path / 'pred', 'a', maps, scale=1)
        assert run(*args)[0] == 0
        res = json.loads(out.read_text())
        assert res['J']['mean'] == expected  # 127 < 0.5 <= 128
    # half of the square above 0.5, half below: J = 1/2 per frame
    maps = [np.where(g > 0, 200, 0) for g in gt]
    for m in maps:
        m[4:8] = np.where(m[4:8] > 0, 100, 0)
    write_masks(tmp_path / 'pred', 'a', maps, scale=1)
    assert run(*args)[0] == 0
    assert json.loads(out.read_text())['J']['mean'] == 0.5


def test_palette_predictions_and_ground_truth(tmp_path, run):
    gt = moving_square(4)
    for root in ('gt', 'pred'):
        (tmp_path / root / 'a').mkdir(parents=True)
    for t, m in enumerate(gt):
        ids = m.astype(np.uint8)
        ids[10:12] *= 2  # a second object id: still foreground
        write_palette(tmp_path / 'gt' / 'a' / f'{t:05d}.png', ids)
        write_palette(tmp_path / 'pred' / 'a' / f'{t:05d}.png', ids)
    out = tmp_path / 'res.json'
    code, _, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                       tmp_path / 'pred', '--json', out, '--keep-first-last')
    assert code == 0, err
    assert json.loads(out.read_text())['J&F'] == 1.0


def test_split_categories_and_extra_predictions(tmp_path, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'gt', 'b', gt)
    write_masks(tmp_path / 'gt', 'unused', gt)
    write_masks(tmp_path / 'pred', 'a', gt + gt)  # unannotated frames too
    write_masks(tmp_path / 'pred', 'b', [g * 0 for g in gt])
    (tmp_path / 'split.txt').write_text('a\nb\n')
    (tmp_path / 'cats.txt').write_text('a news\nb online shopping\n')
    out = tmp_path / 'res.json'
    code, stdout, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                            tmp_path / 'pred', '--split',
                            tmp_path / 'split.txt', '--categories',
                            tmp_path / 'cats.txt', '--json', out)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert sorted(res['per_sequence']) == ['a', 'b']
    assert res['J']['mean'] == 0.5
    assert res['per_category']['online shopping']['J&F'] == 0.0
    assert res['per_category']['news']['J&F'] == 1.0
    assert 'online shopping' in stdout


def test_missing_prediction_is_an_error(tmp_path, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt[:-1])
    code, _, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                       tmp_path / 'pred')
    assert code == 1
    assert f'{tmp_path}/pred/a/00004.png: prediction does not exist' in err


def test_bad_inputs_are_errors(tmp_path, run):
    gt = moving_square(3)
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', [g[:, :-1] for g in gt])
    code, _, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                       tmp_path / 'pred')
    assert code == 1 and '00000.png: size (20, 23) differs' in err
    (tmp_path / 'split.txt').write_text('a\nzzz\n')
    code, _, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                       tmp_path / 'pred', '--split', tmp_path / 'split.txt')
    assert code == 1 and 'zzz: sequence folder not found' in err
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='bad.png: not a readable image'):
        read_prediction(str(tmp_path / 'bad.png'))


def test_binarize_prediction_formats():
    m = np.array([[0, 1, 127, 128, 255]], np.uint8)
    assert binarize_prediction(m).tolist() == [[0, 0, 0, 1, 1]]  # prob
    assert binarize_prediction(m, 'binary').tolist() == [[0, 1, 1, 1, 1]]
    # the authors' PNGs as the MVPS evaluation code reads them
    assert binarize_prediction(m, 'mvps').tolist() == [[0, 1, 1, 1, 1]]
    ones = np.array([[0, 1]], np.uint8)
    assert binarize_prediction(ones).tolist() == [[0, 1]]  # max <= 1: 0/1
    assert binarize_prediction(ones, 'prob').tolist() == [[0, 0]]
    with pytest.raises(ValueError, match='8-bit single-channel'):
        binarize_prediction(m.astype(np.uint16), name='x.png')
    with pytest.raises(ValueError, match='pred_format'):
        binarize_prediction(m, 'half')


EDGE = np.float32(1 / 510)


def soft_clip(n=5, h=30, w=40):
    """A moving soft blob, p just around 1/510 in the background, exact
    0.5 on some pixels; and its ground truth (p >= 0.6)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    probs, gts = [], []
    for t in range(n):
        p = np.exp(-((yy - 15) ** 2 + (xx - 14 - 2 * t) ** 2) / 40)
        p = p.astype(np.float32)
        noise = rng.choice([0, EDGE, np.nextafter(EDGE, np.float32(1)),
                            np.nextafter(EDGE, np.float32(0)), 0.003],
                           size=(h, w)).astype(np.float32)
        p = np.maximum(p, noise)
        p[15, 14 + 2 * t - 5] = 0.5
        probs.append(p)
        gts.append((p >= 0.6).astype(np.uint8))
    return probs, gts


def test_authors_pngs_with_mvps_format_match_jfmetric(tmp_path, run):
    """test.py --out-prob's PNGs (SaveMasksHook) scored by eval_masks.py as
    the MVPS evaluation code does == JFMetric(threshold='authors')."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_pdnet.engine.hooks import SaveMasksHook
    probs, gts = soft_clip()
    write_masks(tmp_path / 'gt', 'a', gts)
    outputs, samples = [], []
    for t, (p, g) in enumerate(zip(probs, gts)):
        s = SegDataSample(metainfo=dict(seq_name='a', frame_name=f'{t:05d}',
                                        ori_shape=p.shape))
        s.seg_logits = PixelData(data=torch.from_numpy(p)[None])
        s.pred_sem_seg = PixelData(data=(s.seg_logits.data >= 0.5).long())
        outputs.append(s)
        samples.append(dict(
            seq_name='a', frame_idx=t, num_frames=len(gts),
            img_path=f'a/{t:05d}.jpg', seg_logits=dict(data=s.seg_logits.data),
            gt_sem_seg=dict(data=torch.from_numpy(g)[None].long())))
    SaveMasksHook(str(tmp_path / 'masks'),
                  str(tmp_path / 'masks_prob')).after_test_iter(
                      None, 0, outputs=outputs)
    metric = JFMetric(extra_thresholds=['authors'])
    metric.process({}, samples)
    expected = metric.compute_metrics(metric.results)
    assert expected['authors/J&F'] < expected['J&F']  # they differ here
    for fmt, root, key in (('mvps', 'masks_prob', 'authors/J&F'),
                           ('prob', 'masks_prob', 'J&F'),
                           ('binary', 'masks', 'J&F')):
        out = tmp_path / f'{fmt}.json'
        code, stdout, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                                tmp_path / root, '--pred-format', fmt,
                                '--json', out)
        assert code == 0, err
        res = json.loads(out.read_text())
        assert 100 * res['J&F'] == pytest.approx(expected[key], abs=1e-9)
        line = f'binarisation: {describe_pred_format(fmt)}'
        assert line in stdout.splitlines()
        assert res['binarisation'] == describe_pred_format(fmt)
        assert res['pred_format'] == fmt
    assert describe_pred_format('mvps') == (
        'mvps (any non-zero pixel is foreground, as the MVPS evaluation '
        'code; for round(255 p) maps: p > 1/510)')


def test_binarisation_is_always_printed(tmp_path, run):
    gt = moving_square(3)
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt)
    out = tmp_path / 'res.json'
    code, stdout, _ = run('--gt-root', tmp_path / 'gt', '--pred-root',
                          tmp_path / 'pred', '--json', out)
    assert code == 0
    assert 'binarisation: auto (a PNG whose maximum is <= 1: any non-zero ' \
        'pixel is foreground; otherwise >= 128' in stdout
    assert json.loads(out.read_text())['pred_format'] == 'auto'


def _scored_folders(tmp_path):
    gt = moving_square(3)
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt)
    return ['--gt-root', tmp_path / 'gt', '--pred-root', tmp_path / 'pred']


def test_json_and_csv_into_missing_folders_are_created(tmp_path, run):
    js, cs = tmp_path / 'new' / 'r.json', tmp_path / 'new2' / 'deep' / 'r.csv'
    code, out, err = run(*_scored_folders(tmp_path), '--json', js, '--csv', cs)
    assert code == 0, err
    assert json.loads(js.read_text())['num_sequences'] == 1
    assert cs.read_text().startswith('level,name')
    assert f'wrote {js}' in out and f'wrote {cs}' in out
    assert not list(js.parent.glob('.*partial'))


@pytest.mark.parametrize('flag', ['--json', '--csv'])
def test_unwritable_json_or_csv_is_refused_before_scoring(tmp_path, run,
                                                          flag):
    (tmp_path / 'file.txt').write_text('x')
    bad = tmp_path / 'file.txt' / 'r.out'
    code, out, err = run(*_scored_folders(tmp_path), flag, bad)
    assert code == 1 and out == ''  # no table: nothing was scored
    assert err.strip() == (f'eval_masks: error: {flag} {bad}: '
                           f'{tmp_path / "file.txt"} is a file, not a folder')


@pytest.mark.skipif(os.geteuid() == 0, reason='running as root, for whom a '
                    '0o555 folder is writable (the file-as-folder test '
                    'covers the refusal)')
def test_read_only_json_folder_is_refused(tmp_path, run):
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    code, out, err = run(*_scored_folders(tmp_path), '--json', ro / 'r.json')
    assert code == 1 and out == '' and 'cannot write in' in err


def test_late_failure_keeps_the_other_file(tmp_path, run, monkeypatch,
                                           load_tool):
    js, cs = tmp_path / 'r.json', tmp_path / 'r.csv'
    tool = load_tool('eval_masks.py')
    real = tool.write_summary

    def failing(summary, json_path=None, csv_path=None):
        if csv_path:
            raise OSError(28, 'No space left on device')
        real(summary, json_path, csv_path)

    monkeypatch.setattr(tool, 'write_summary', failing)
    code = tool.main([str(a) for a in _scored_folders(tmp_path)]
                     + ['--json', str(js), '--csv', str(cs)])
    assert code == 1
    assert js.is_file() and not cs.exists()
    assert not list(tmp_path.glob('.*partial'))
