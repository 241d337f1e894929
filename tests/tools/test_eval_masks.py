import csv
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg_pdnet.evaluation import binarize_prediction, read_prediction


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
    ones = np.array([[0, 1]], np.uint8)
    assert binarize_prediction(ones).tolist() == [[0, 1]]  # max <= 1: 0/1
    assert binarize_prediction(ones, 'prob').tolist() == [[0, 0]]
    with pytest.raises(ValueError, match='8-bit single-channel'):
        binarize_prediction(m.astype(np.uint16), name='x.png')
    with pytest.raises(ValueError, match='pred_format'):
        binarize_prediction(m, 'half')
