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


def test_check_dataset_mask_values(tmp_path, load_tool, capsys):
    """0/128/255 masks are usable soft targets: a warning with the values;
    values above 255 cannot be masks: a problem."""
    make_demo_dataset(str(tmp_path), train_clips=1, test_clips=1,
                      min_frames=3, max_frames=3, height=32, width=48)
    tool = load_tool('misc/check_dataset.py')
    grey = tmp_path / 'Annotations/480p/train_000/00001.png'
    mask = np.zeros((32, 48), np.uint8)
    mask[:, 16:32], mask[:, 32:] = 128, 255
    cv2.imwrite(str(grey), mask)
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'non_binary_masks: 1' in out
    assert ('WARNING 1 mask(s) hold values other than 0/255, 0/1 or palette '
            'ids: training uses them as fractional targets (value / 255), '
            'testing counts every value > 0 as foreground') in out
    assert (f'WARNING {grey}: mask values 0: 512 (33.3%), 128: 512 '
            '(33.3%), 255: 512 (33.3%)') in out
    assert '0 problem(s), 1 warning(s)' in out
    assert tool.main([str(tmp_path), '--strict']) == 1
    capsys.readouterr()
    # 0/1 masks and palette masks are binary
    cv2.imwrite(str(grey), (mask > 0).astype(np.uint8))
    assert tool.main([str(tmp_path)]) == 0
    assert '0 problem(s), 0 warning(s)' in capsys.readouterr().out
    # 16-bit values above 255
    wide = tmp_path / 'Annotations/480p/test_001/00002.png'
    cv2.imwrite(str(wide), (mask > 0).astype(np.uint16) * 1000)
    assert tool.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (f'PROBLEM {wide}: mask value 1000 is above 255 (uint16 image): '
            'not a 0/255, 0/1 or palette mask') in out
    assert '1 problem(s), 0 warning(s)' in out


def test_check_dataset_lists_ten_soft_masks(tmp_path, load_tool, capsys):
    make_demo_dataset(str(tmp_path), train_clips=2, test_clips=1,
                      min_frames=6, max_frames=6, height=16, width=16)
    for path in sorted(tmp_path.glob('Annotations/480p/*/*.png')):
        cv2.imwrite(str(path), np.full((16, 16), 3, np.uint8))
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'WARNING 18 mask(s) hold values' in out
    assert out.count(': mask values 3: 256 (100.0%)') == 10
    assert 'WARNING ... and 8 more such mask(s)' in out
    assert '0 problem(s), 18 warning(s)' in out


def test_check_dataset_listed_clips_without_frames_or_masks(
        tmp_path, load_tool, capsys):
    make_demo_dataset(str(tmp_path), train_clips=2, test_clips=1,
                      min_frames=3, max_frames=3, height=32, width=48)
    empty = tmp_path / 'Keyframes/480p/train_000'
    for f in empty.iterdir():
        f.unlink()
    for f in (tmp_path / 'Annotations/480p/train_000').iterdir():
        f.unlink()
    unmasked = tmp_path / 'Annotations/480p/test_002'
    for f in unmasked.iterdir():
        f.unlink()
    tool = load_tool('misc/check_dataset.py')
    assert tool.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (f'PROBLEM {empty}: holds no frames (.jpg/.jpeg/.png/.bmp) '
            '(listed in train.txt)') in out
    assert (f'PROBLEM {unmasked}: no masks for the 3 frame(s) of '
            f'{tmp_path / "Keyframes/480p/test_002"} (listed in val.txt)'
            ) in out
    # one line per clip, not one per frame; the good clip is still counted
    assert 'frame without a mask' not in out
    assert 'clips: 3' in out and 'annotated_frames: 3' in out
    assert '2 problem(s)' in out
