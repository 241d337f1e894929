import json

import cv2
import numpy as np
import pytest



def write_masks(root, seq, masks, scale=255):
    (root / seq).mkdir(parents=True, exist_ok=True)
    for t, m in enumerate(masks):
        cv2.imwrite(str(root / seq / f'{t:05d}.png'),
                    (m * scale).astype(np.uint8))


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
        return code, captured.err

    return call


@pytest.mark.parametrize('scale', [1, 255])
def test_binary_predictions(tmp_path, scale, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt, scale=scale)
    out = tmp_path / 'res.json'
    code, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                    tmp_path / 'pred', '--json', out)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res['J&F'] == pytest.approx(1.0)
    assert set(res['J']) >= {'mean', 'recall', 'decay'}
    assert res['per_sequence']['a']['F']['mean'] == pytest.approx(1.0)


def test_probability_maps_threshold_at_128(tmp_path, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    # 127 inside the square: below 0.5 -> empty prediction
    write_masks(tmp_path / 'pred', 'a', gt, scale=127)
    out = tmp_path / 'res.json'
    assert run('--gt-root', tmp_path / 'gt', '--pred-root', tmp_path / 'pred',
               '--json', out)[0] == 0
    assert json.loads(out.read_text())['J']['mean'] == 0.0
    write_masks(tmp_path / 'pred', 'a', gt, scale=128)
    assert run('--gt-root', tmp_path / 'gt', '--pred-root', tmp_path / 'pred',
               '--json', out, '--keep-first-last')[0] == 0
    assert json.loads(out.read_text())['J']['mean'] == 1.0


def test_missing_prediction_is_an_error(tmp_path, run):
    gt = moving_square()
    write_masks(tmp_path / 'gt', 'a', gt)
    write_masks(tmp_path / 'pred', 'a', gt[:-1])
    code, err = run('--gt-root', tmp_path / 'gt', '--pred-root',
                    tmp_path / 'pred')
    assert code == 1
    assert '00004.png: prediction does not exist' in err
