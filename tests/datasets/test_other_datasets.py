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


def test_pphumanseg14k_groups_frames_into_clips(tmp_path):
    lines = []
    for clip in ('video_001', 'video_002'):
        for t in range(3):
            img = f'images/train/{clip}_{t:05d}.jpg'
            ann = f'annotations/train/{clip}_{t:05d}.png'
            write_pair(tmp_path / img, tmp_path / ann, value=1)
            lines.append(f'{img} {ann}')
    (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
    ds = DATASETS.build(dict(type='PPHumanSeg14KDataset',
                             data_root=str(tmp_path), split='train',
                             pipeline=PIPELINE))
    assert len(ds) == 6
    info = ds.get_data_info(4)
    assert info['seq_name'] == 'video_002' and info['frame_idx'] == 1
    assert info['ref_img_paths'][0].endswith('video_002_00000.jpg')
    assert ds[4]['data_samples'].gt_sem_seg.data.sum() > 0
    (tmp_path / 'train.txt').write_text('only-one-column.jpg\n')
    with pytest.raises(ValueError, match=r'train.txt:1: expected'):
        DATASETS.build(dict(type='PPHumanSeg14KDataset',
                            data_root=str(tmp_path), split='train'))


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
