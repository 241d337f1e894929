import os.path as osp

import cv2
import numpy as np
import pytest
from mmseg.registry import DATASETS

PIPELINE = [dict(type='LoadPairedImages'), dict(type='LoadPairedAnnotations'),
            dict(type='PairedResize', scale=32),
            dict(type='PackPairedSegInputs')]


def write_pair(img_path, mask_path, value=255):
    img_path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(img_path), np.full((20, 30, 3), 100, np.uint8))
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 10:20] = value
    cv2.imwrite(str(mask_path), mask)


def test_portrait_image_dataset_reference_is_the_image(tmp_path):
    for name in ('a', 'b'):
        write_pair(tmp_path / 'images' / f'{name}.jpg',
                   tmp_path / 'masks' / f'{name}.png')
    ds = DATASETS.build(dict(type='PortraitImageDataset',
                             data_root=str(tmp_path), pipeline=PIPELINE,
                             num_refs=2))
    assert len(ds) == 2
    out = ds[0]
    assert out['inputs'].shape == (9, 32, 32)
    assert out['data_samples'].metainfo['is_image'] is True
    assert (out['inputs'][:3] == out['inputs'][3:6]).all()
    (tmp_path / 'masks' / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match='b.png: missing mask'):
        DATASETS.build(dict(type='PortraitImageDataset',
                            data_root=str(tmp_path)))


def write_list(root, name, paths):
    """Write frames, VOC-palette masks (index 1 = portrait, as the
    PP-HumanSeg14K release) and the list file ``name``."""
    from PIL import Image
    lines = []
    for img in paths:
        ann = img.replace('images/', 'annotations/').replace('.jpg', '.png')
        (root / img).parent.mkdir(parents=True, exist_ok=True)
        (root / ann).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / img), np.full((20, 30, 3), 100, np.uint8))
        ids = np.zeros((20, 30), np.uint8)
        ids[5:15, 10:20] = 1
        pal = Image.fromarray(ids, mode='P')
        pal.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
        pal.save(root / ann)
        lines.append(f'{img} {ann}')
    (root / name).write_text('\n'.join(lines) + '\n')


def authors_groups(list_file):
    """The PDNet authors' grouping of a PP-HumanSeg14K list, in our own
    words: clip = listed image path [7:-8]; clips sorted by name, the
    frames of a clip sorted by path; the reference is the clip's first
    frame."""
    imgs = [line.strip().split(' ')[0]
            for line in list_file.read_text().splitlines()]
    clips = {}
    for img in imgs:
        clips.setdefault(img[7:-8], []).append(img)
    return {seq: sorted(clips[seq]) for seq in sorted(clips)}


# File names shaped as the authors' rule expects them:
# images/<split>/<video><4-character frame>.jpg. Video names with digits
# and underscores, frames listed out of order and interleaved; 'room1'
# and 'room10' differ only in a digit next to the frame field, which a
# "stem without its trailing number" rule would merge or split wrongly.
PP_NAMES = [
    'images/train/meeting_03_0010.jpg', 'images/train/2_0005.jpg',
    'images/train/meeting_03_0000.jpg', 'images/train/room10005.jpg',
    'images/train/2_0000.jpg', 'images/train/meeting_03_0005.jpg',
    'images/train/room100010.jpg', 'images/train/room100000.jpg',
    'images/train/room10000.jpg',
]


def test_pphumanseg14k_groups_clips_as_the_authors(tmp_path):
    write_list(tmp_path, 'train.txt', PP_NAMES)
    ds = DATASETS.build(dict(type='PPHumanSeg14KDataset',
                             data_root=str(tmp_path), split='train',
                             pipeline=PIPELINE))
    expected = authors_groups(tmp_path / 'train.txt')
    assert list(expected) == ['train/2_', 'train/meeting_03_',
                              'train/room1', 'train/room10']
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    got = {}
    for info in infos:
        got.setdefault(info['seq_name'], []).append(
            osp.relpath(info['img_path'], tmp_path))
    assert got == expected  # same clips, same order, same frame order
    for info in infos:
        first = expected[info['seq_name']][0]
        assert info['ref_img_paths'] == [str(tmp_path / first)]
        assert info['ref_seg_map_paths'] == [
            str(tmp_path / first.replace('images/', 'annotations/').replace(
                '.jpg', '.png'))]
        assert info['num_frames'] == len(expected[info['seq_name']])
    # the palette masks load as portrait where the id is 1
    assert ds[4]['data_samples'].gt_sem_seg.data.sum() > 0
    # a regex on the file stem is an option; this one (the stem without
    # its trailing number) merges room1 and room10, which the authors keep
    # apart
    by_regex = DATASETS.build(dict(type='PPHumanSeg14KDataset',
                                   data_root=str(tmp_path), split='train',
                                   clip_regex=r'^(.+?)[_-]?\d+$'))
    assert {by_regex.get_data_info(i)['seq_name']
            for i in range(len(by_regex))} == {'2', 'meeting_03', 'room'}


def test_pphumanseg14k_list_errors(tmp_path):
    write_list(tmp_path, 'train.txt', PP_NAMES[:2])
    (tmp_path / 'test.txt').write_text('images/train/2_0005.jpg\n')
    with pytest.raises(ValueError, match=r'test.txt:1: expected .*without '
                       'masks'):
        DATASETS.build(dict(type='PPHumanSeg14KDataset',
                            data_root=str(tmp_path), split='test'))
    # paths too short for path[7:-8] would all fall into one clip ''
    write_list(tmp_path, 'short.txt', ['images/a.jpg'])
    with pytest.raises(ValueError, match=r"short.txt:1: 'images/a.jpg' gets "
                       'an empty clip name'):
        DATASETS.build(dict(type='PPHumanSeg14KDataset',
                            data_root=str(tmp_path), split='short'))


def test_pphumanseg14k_soft_masks_equal_the_authors_mask_scale(tmp_path):
    """The authors read PP-HumanSeg14K masks with cv2 as grey levels and
    divide by 38 (where other sets use 255): the grey level of the
    palette's portrait colour (128, 0, 0). Our soft masks read the
    palette index (id > 0 -> 1.0): the same training targets."""
    from mmseg_pdnet.datasets.image_io import read_soft_mask
    write_list(tmp_path, 'train.txt', PP_NAMES[:1])
    mask = str(tmp_path / PP_NAMES[0].replace('images/', 'annotations/')
               .replace('.jpg', '.png'))
    grey = cv2.imread(mask, cv2.IMREAD_GRAYSCALE)
    assert set(np.unique(grey)) == {0, 38}
    assert np.array_equal(read_soft_mask(mask), grey / 38)


def test_davis_layout_with_palette_masks(tmp_path):
    from PIL import Image
    for t in range(3):
        img = tmp_path / 'JPEGImages/480p/dance' / f'{t:05d}.jpg'
        img.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img), np.full((20, 30, 3), 80, np.uint8))
    ann = tmp_path / 'Annotations/480p/dance'
    ann.mkdir(parents=True)
    for t in range(2):  # frame 2 not annotated
        ids = np.zeros((20, 30), np.uint8)
        ids[2:6, 2:6] = 1
        ids[10:14, 10:20] = 2
        pal = Image.fromarray(ids, mode='P')
        pal.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
        pal.save(ann / f'{t:05d}.png')
    sets = tmp_path / 'ImageSets/2017'
    sets.mkdir(parents=True)
    (sets / 'val.txt').write_text('dance\n')
    ds = DATASETS.build(dict(type='DAVISVideoDataset',
                             data_root=str(tmp_path), pipeline=PIPELINE[:2] +
                             [dict(type='PackPairedSegInputs')]))
    assert len(ds) == 2 and len(ds.unannotated_frames) == 1
    gt = ds[1]['data_samples'].gt_sem_seg.data[0]
    assert gt.sum() == 16 + 40  # both object ids are portrait


def test_palette_masks_use_object_ids_not_colours(tmp_path):
    from PIL import Image

    from mmseg_pdnet.datasets.image_io import read_mask
    ids = np.zeros((4, 4), np.uint8)
    ids[1, 1] = 2
    pal = Image.fromarray(ids, mode='P')
    # index 0 is grey and index 2 black: colours would invert the mask
    pal.putpalette([90, 90, 90, 0, 0, 0, 0, 0, 0] + [0] * 759)
    pal.save(tmp_path / 'm.png')
    mask = read_mask(str(tmp_path / 'm.png'))
    assert mask.sum() == 1 and mask[1, 1] == 1
