import hashlib
import json

import cv2
import numpy as np

from mmseg_pdnet.datasets import MVPSDataset


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob('*.png')) + sorted(root.rglob('*.txt')):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_make_demo_data_cli_layout_and_determinism(tmp_path, load_tool):
    tool = load_tool('make_demo_data.py')
    args = ['--seed', '5', '--train-clips', '2', '--test-clips', '1',
            '--min-frames', '5', '--max-frames', '7', '--height', '64',
            '--width', '96']
    tool.main(['--out', str(tmp_path / 'a')] + args)
    tool.main(['--out', str(tmp_path / 'b')] + args)
    a = tmp_path / 'a'
    assert _digest(a) == _digest(tmp_path / 'b')
    tool.main(['--out', str(tmp_path / 'c'), '--seed', '6'] + args[2:])
    assert _digest(a) != _digest(tmp_path / 'c')

    # the MVPS release layout: the evaluation split is val.txt
    sets = a / 'ImageSets'
    assert sorted(p.name for p in sets.iterdir()) == [
        'categories.txt', 'train.txt', 'val.txt']
    train = sets.joinpath('train.txt').read_text().split()
    test = sets.joinpath('val.txt').read_text().split()
    assert train == ['train_000', 'train_001'] and test == ['test_002']
    for seq in train + test:
        frames = sorted((a / 'Keyframes/480p' / seq).glob('*.jpg'))
        masks = sorted((a / 'Annotations/480p' / seq).glob('*.png'))
        assert 5 <= len(frames) <= 7
        # every frame annotated, same stems
        assert [f.stem for f in frames] == [m.stem for m in masks]
        img = cv2.imread(str(frames[0]))
        mask = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (64, 96, 3) and mask.shape == (64, 96)
        assert set(np.unique(mask)) == {0, 255}
        # a portrait, not the whole frame; a textured background
        assert 0.02 < (mask > 0).mean() < 0.8
        assert img[mask == 0].std(axis=0).min() > 10
        # figures move between frames
        last = cv2.imread(str(masks[-1]), cv2.IMREAD_UNCHANGED)
        assert (last != mask).any()
    # the category mapping is valid for MVPSDataset
    ds = MVPSDataset(str(a), split='val')
    assert ds.get_data_info(0)['category'] in MVPSDataset.CATEGORIES


def test_check_tells_whether_the_folder_holds_this_design(tmp_path,
                                                          load_tool, capsys):
    tool = load_tool('make_demo_data.py')
    out = tmp_path / 'demo'
    small = ['--out', str(out), '--train-clips', '1', '--test-clips', '1',
             '--min-frames', '2', '--max-frames', '2', '--height', '32',
             '--width', '48']
    assert tool.main(small + ['--check']) == 1
    assert 'no demo clips' in capsys.readouterr().out
    assert not out.exists()  # --check writes nothing
    assert tool.main(small) in (None, 0)
    assert tool.main(small + ['--check']) == 0
    assert 'up to date' in capsys.readouterr().out
    # another design (or clips from before design.json) is not current
    assert tool.main(small + ['--posters', '1', '--check']) == 1
    assert 'another design' in capsys.readouterr().out
    record = json.loads((out / 'design.json').read_text())
    assert record['posters'] == 0 and record['figure_scale'] == [0.22, 0.4]
