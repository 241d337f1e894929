import shutil

import cv2
import numpy as np
import pytest
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_pdnet.datasets import (DatasetError, MVPSDataset, image_size,
                                  validate_data_list)


def copy_root(demo_root, tmp_path):
    root = tmp_path / 'mvps'
    shutil.copytree(demo_root, root)
    return root


def one_line(err):
    msg = str(err.value)
    assert '\n' not in msg and len(msg) < 400, msg
    return msg


def test_headers_give_the_decoded_size(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (37, 53, 3), np.uint8)
    rgb = Image.fromarray(img)
    files = {
        'plain.jpg': lambda p: cv2.imwrite(p, img),
        'progressive.jpg': lambda p: rgb.save(p, progressive=True),
        'exif.jpg': lambda p: rgb.save(p, exif=Image.Exif()),
        'gray.jpg': lambda p: cv2.imwrite(p, img[..., 0]),
        'rgb.png': lambda p: cv2.imwrite(p, img),
        'mask16.png': lambda p: cv2.imwrite(p, img[..., 0].astype(np.uint16)),
        'palette.png': lambda p: rgb.convert('P').save(p),
        'frame.bmp': lambda p: cv2.imwrite(p, img),
    }
    for name, write in files.items():
        path = str(tmp_path / name)
        write(path)
        assert image_size(path) == (37, 53), name
    # the format comes from the bytes, as in the decoders
    shutil.copy(tmp_path / 'frame.bmp', tmp_path / 'bmp_named.jpeg.bmp')
    assert image_size(str(tmp_path / 'bmp_named.jpeg.bmp')) == (37, 53)


@pytest.mark.parametrize('content, problem', [
    (None, 'file does not exist'),
    (b'', 'file is empty'),
    (b'not an image at all' * 10 + b'\xff\xd9', 'unreadable header'),
    (b'\xff\xd8\xff\xe0\x00\x10JFIF', 'unreadable JPEG header'),
])
def test_unusable_files_name_the_file(tmp_path, content, problem):
    path = tmp_path / 'x.jpg'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        image_size(str(path))
    assert one_line(err).startswith(f'{path}: {problem}')


def test_demo_split_passes_and_nothing_changes(demo_root):
    checked = MVPSDataset(str(demo_root), split='train')
    unchecked = MVPSDataset(str(demo_root), split='train', validate=False)
    assert [checked.get_data_info(i) for i in range(len(checked))] == \
        [unchecked.get_data_info(i) for i in range(len(unchecked))]
    # every frame and mask once (references are frames of the split)
    assert validate_data_list(unchecked) == 2 * len(unchecked)


def test_bad_files_fail_when_the_dataset_is_built(demo_root, tmp_path):
    """Before the first iteration, in one line naming the file."""
    root = copy_root(demo_root, tmp_path)
    clip = root / 'Keyframes/480p/train_000'
    mask = root / 'Annotations/480p/train_000/00001.png'
    cv2.imwrite(str(mask), np.zeros((10, 10), np.uint8))
    with pytest.raises(DatasetError) as err:
        MVPSDataset(str(root), split='train')
    assert one_line(err) == (
        f'{mask}: mask size (10, 10) differs from its frame '
        f'{clip / "00001.jpg"} (64, 96)')
    # a truncated frame as well: the first problem and the count
    frame = clip / '00002.jpg'
    frame.write_bytes(frame.read_bytes()[:-200])
    with pytest.raises(DatasetError) as err:
        DATASETS.build(dict(type='MVPSDataset', data_root=str(root),
                            split='train'))
    assert one_line(err).startswith(f'{mask}: mask size (10, 10)')
    assert '(and 1 more problem(s) in this split; ' \
        'tools/misc/check_dataset.py checks a whole dataset)' in \
        str(err.value)
    # validate=False defers the errors to loading, as before
    assert len(MVPSDataset(str(root), split='train', validate=False)) > 0


def test_reference_of_another_size(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    ref = root / 'Keyframes/480p/train_000/00000.jpg'
    cv2.imwrite(str(ref), np.zeros((32, 48, 3), np.uint8))
    cv2.imwrite(str(root / 'Annotations/480p/train_000/00000.png'),
                np.zeros((32, 48), np.uint8))
    with pytest.raises(DatasetError) as err:
        MVPSDataset(str(root), split='train')
    assert one_line(err).startswith(
        f'{ref}: reference frame size (32, 48) differs from its target '
        f'frame {ref.parent / "00001.jpg"} (64, 96)')


def write_pair(img_path, mask_path, mask_size=(20, 30)):
    for p in (img_path, mask_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(img_path), np.full((20, 30, 3), 100, np.uint8))
    cv2.imwrite(str(mask_path), np.zeros(mask_size, np.uint8))


def test_image_and_pphumanseg_datasets(tmp_path):
    write_pair(tmp_path / 'images/a.jpg', tmp_path / 'masks/a.png')
    write_pair(tmp_path / 'images/b.jpg', tmp_path / 'masks/b.png',
               mask_size=(30, 20))
    with pytest.raises(DatasetError) as err:
        DATASETS.build(dict(type='PortraitImageDataset',
                            data_root=str(tmp_path)))
    assert one_line(err).startswith(
        f'{tmp_path / "masks/b.png"}: mask size (30, 20) differs')
    (tmp_path / 'train.txt').write_text(
        'images/a.jpg masks/a.png\nimages/b.jpg masks/b.png\n')
    with pytest.raises(DatasetError) as err:
        DATASETS.build(dict(type='PPHumanSeg14KDataset',
                            data_root=str(tmp_path), split='train'))
    assert one_line(err).startswith(
        f'{tmp_path / "masks/b.png"}: mask size (30, 20) differs')
    (tmp_path / 'train.txt').write_text('images/a.jpg masks/gone.png\n')
    with pytest.raises(DatasetError) as err:
        DATASETS.build(dict(type='PPHumanSeg14KDataset',
                            data_root=str(tmp_path), split='train'))
    assert one_line(err) == (f'{tmp_path / "masks/gone.png"}: listed in '
                             f'{tmp_path / "train.txt"}:1 but does not exist')


def test_missing_files_of_a_data_list(tmp_path):
    write_pair(tmp_path / 'a.jpg', tmp_path / 'a.png')
    infos = [dict(img_path=str(tmp_path / 'a.jpg'),
                  seg_map_path=str(tmp_path / 'gone.png'),
                  ref_img_paths=[str(tmp_path / 'a.jpg')],
                  ref_seg_map_paths=[str(tmp_path / 'a.png')])]
    with pytest.raises(DatasetError) as err:
        validate_data_list(infos)
    assert one_line(err) == f'{tmp_path / "gone.png"}: file does not exist'
    assert isinstance(err.value, ValueError)  # as the loaders' errors
