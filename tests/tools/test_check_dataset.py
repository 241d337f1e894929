import cv2
import numpy as np

from mmseg_pdnet.datasets.synthetic import make_demo_dataset


def test_check_dataset(tmp_path, load_tool, capsys):
    make_demo_dataset(str(tmp_path), train_clips=1, test_clips=1,
                      min_frames=3, max_frames=3, height=32, width=48)
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'clips: 2' in out and 'annotated_frames: 6' in out
    assert 'min_resolution: (32, 48)' in out
    (tmp_path / 'Annotations/480p/train_000/00001.png').unlink()
    cv2.imwrite(str(tmp_path / 'Annotations/480p/test_001/00000.png'),
                np.zeros((5, 5), np.uint8))
    frame = tmp_path / 'Keyframes/480p/test_001/00002.jpg'
    frame.write_bytes(frame.read_bytes()[:100])
    assert tool.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert 'train_000/00001.jpg: frame without a mask' in out
    assert 'test_001/00000.png: mask size (5, 5) differs' in out
    assert '00002.jpg: truncated JPEG' in out
    assert '3 problem(s)' in out


def test_check_dataset_folders_splits_and_categories(tmp_path, load_tool,
                                                     capsys):
    make_demo_dataset(str(tmp_path), train_clips=1, test_clips=1,
                      min_frames=2, max_frames=2, height=32, width=48)
    (tmp_path / 'Annotations/480p/orphan_clip').mkdir()
    (tmp_path / 'ImageSets/val.txt').write_text('\n')
    cats = tmp_path / 'ImageSets/categories.txt'
    cats.write_text(cats.read_text() + 'test_001 cooking show\n')
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert 'orphan_clip: annotation folder without a frame folder' in out
    assert 'val.txt: empty split file' in out
    assert "categories.txt:3: unknown category 'cooking show'" in out
    assert '3 problem(s)' in out


def test_check_dataset_rejects_unknown_layout(tmp_path, load_tool, capsys):
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 1
    assert 'neither the MVPS' in capsys.readouterr().err


def test_check_dataset_image_folders(tmp_path, load_tool, capsys):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'masks').mkdir()
    for name, (h, w) in (('a', (20, 30)), ('b', (40, 10)), ('c', (8, 8))):
        cv2.imwrite(str(tmp_path / 'images' / f'{name}.jpg'),
                    np.zeros((h, w, 3), np.uint8))
        cv2.imwrite(str(tmp_path / 'masks' / f'{name}.png'),
                    np.zeros((h, w), np.uint8))
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'layout: images' in out and 'frames: 3' in out
    # resolution range by area
    assert 'min_resolution: (8, 8)' in out
    assert 'max_resolution: (20, 30)' in out
    (tmp_path / 'masks' / 'c.png').unlink()
    assert tool.main([str(tmp_path)]) == 1
    assert 'c.jpg: frame without a mask' in capsys.readouterr().out
