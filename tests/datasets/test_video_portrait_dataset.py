import shutil

import cv2
import numpy as np
import pytest
import torch
from mmseg.registry import DATASETS

from mmseg_pdnet.datasets import MVPSDataset, VideoPortraitDataset

TRAIN_PIPELINE = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations'),
    dict(type='PairedRandomCrop'),
    dict(type='PairedRandomFlip'),
    dict(type='PairedResize', scale=48),
    dict(type='PackPairedSegInputs'),
]
TEST_PIPELINE = [
    dict(type='LoadPairedImages'),
    dict(type='PairedResize', scale=32),
    dict(type='LoadPairedAnnotations', with_ref=False),
    dict(type='PackPairedSegInputs'),
]


def copy_root(demo_root, tmp_path):
    root = tmp_path / 'mvps'
    shutil.copytree(demo_root, root)
    return root


def test_mvps_samples_and_metainfo(demo_root):
    ds = DATASETS.build(dict(type='MVPSDataset', data_root=str(demo_root),
                             split='train', pipeline=TRAIN_PIPELINE))
    seqs = (demo_root / 'ImageSets' / 'train.txt').read_text().split()
    frames = sum(len(list((demo_root / 'Annotations/480p' / s).iterdir()))
                 for s in seqs)
    assert len(ds) == frames  # every annotated frame is a target
    info = ds.get_data_info(3)
    assert info['ref_img_paths'][0].endswith('00000.jpg')  # first frame
    assert info['category'] in MVPSDataset.CATEGORIES
    out = ds[3]
    assert out['inputs'].shape == (6, 48, 48)
    assert out['inputs'].dtype == torch.uint8
    sample = out['data_samples']
    assert sample.gt_sem_seg.data.shape == (1, 48, 48)
    assert sample.gt_ref_seg.data.shape == (1, 48, 48)
    assert set(sample.gt_sem_seg.data.unique().tolist()) <= {0, 1}
    for key in ('seq_name', 'frame_idx', 'num_frames', 'category',
                'frame_name', 'is_image', 'ori_shape'):
        assert key in sample.metainfo, key
    assert sample.metainfo['ori_shape'] == (64, 96)
    assert sample.metainfo['is_image'] is False


def test_test_pipeline_keeps_ground_truth_at_original_size(demo_root):
    ds = MVPSDataset(str(demo_root), split='val', pipeline=TEST_PIPELINE,
                     test_mode=True)
    out = ds[0]
    assert out['inputs'].shape == (6, 32, 32)
    assert out['data_samples'].gt_sem_seg.data.shape == (1, 64, 96)
    assert 'gt_ref_seg' not in out['data_samples']


def test_mvps_val_split_prefers_val_txt_then_test_txt(demo_root, tmp_path,
                                                      monkeypatch):
    from mmseg_pdnet.datasets import video_portrait_dataset
    logs = []
    monkeypatch.setattr(video_portrait_dataset, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    root = copy_root(demo_root, tmp_path)
    sets = root / 'ImageSets'
    # the release layout: train.txt + val.txt (no test.txt)
    assert sorted(p.name for p in sets.iterdir()) == [
        'categories.txt', 'train.txt', 'val.txt']
    val = sets.joinpath('val.txt').read_text().split()
    ds = MVPSDataset(str(root), split='val')
    assert {ds.get_data_info(i)['seq_name'] for i in range(len(ds))} == \
        set(val)
    # val.txt wins over test.txt
    sets.joinpath('test.txt').write_text('train_000\n')
    ds = MVPSDataset(str(root), split='val')
    assert {ds.get_data_info(i)['seq_name'] for i in range(len(ds))} == \
        set(val)
    assert logs == []
    # without val.txt, split='val' reads test.txt and says so
    sets.joinpath('val.txt').unlink()
    ds = MVPSDataset(str(root), split='val')
    assert {ds.get_data_info(i)['seq_name'] for i in range(len(ds))} == \
        {'train_000'}
    assert ds.split == 'ImageSets/test.txt'
    assert len(logs) == 1 and 'val.txt does not exist' in logs[0] \
        and 'test.txt' in logs[0]
    # split='test' reads test.txt only
    sets.joinpath('test.txt').unlink()
    sets.joinpath('val.txt').write_text('train_001\n')
    with pytest.raises(FileNotFoundError,
                       match='test.txt: split file does not exist'):
        MVPSDataset(str(root), split='test')
    # neither file: the error names both
    sets.joinpath('val.txt').unlink()
    with pytest.raises(FileNotFoundError) as err:
        MVPSDataset(str(root), split='val')
    assert str(sets / 'val.txt') in str(err.value)
    assert str(sets / 'test.txt') in str(err.value)


def test_reference_strategies(demo_root):
    two = MVPSDataset(str(demo_root), split='train',
                      ref_strategy='first+prev5')
    assert two.num_refs == 2
    infos = [two.get_data_info(i) for i in range(len(two))]
    first_clip = [i for i in infos if i['seq_name'] == infos[0]['seq_name']]
    last = first_clip[-1]
    prev = max(last['frame_idx'] - 5, 0)
    assert last['ref_img_paths'][1].endswith(f'{prev:05d}.jpg')
    # test mode: a fixed draw, reproducible from the seed
    rand_a, rand_b = (MVPSDataset(str(demo_root), split='train',
                                  ref_strategy='random', seed=1,
                                  test_mode=True) for _ in range(2))
    assert [rand_a.get_data_info(i)['ref_img_paths'] for i in range(5)] == \
        [rand_b.get_data_info(i)['ref_img_paths'] for i in range(5)]
    # training: a new frame of the same clip at every fetch
    train = MVPSDataset(str(demo_root), split='train', ref_strategy='random')
    np.random.seed(0)
    draws = {train.get_data_info(0)['ref_img_paths'][0] for _ in range(30)}
    clip = train.get_data_info(0)['seq_name']
    assert len(draws) > 1
    assert all(f'/{clip}/' in p for p in draws)
    np.random.seed(0)
    assert {train.get_data_info(0)['ref_img_paths'][0]
            for _ in range(30)} == draws
    with pytest.raises(ValueError, match='ref_strategy'):
        MVPSDataset(str(demo_root), ref_strategy='nearest')


def test_two_references_pack_nine_channels(demo_root):
    ds = MVPSDataset(str(demo_root), split='train',
                     ref_strategy='first+prev5', pipeline=TRAIN_PIPELINE)
    out = ds[len(ds) - 1]
    assert out['inputs'].shape == (9, 48, 48)
    assert out['data_samples'].gt_ref_seg.data.shape == (2, 48, 48)


def test_shared_crop_and_flip(demo_root):
    """Target and reference get the same geometric parameters."""
    pipeline = [dict(type='LoadPairedImages'),
                dict(type='LoadPairedAnnotations'),
                dict(type='PairedRandomCrop'),
                dict(type='PairedRandomFlip', prob=1.0),
                dict(type='PackPairedSegInputs')]
    ds = MVPSDataset(str(demo_root), split='train', pipeline=pipeline)
    np.random.seed(0)
    out = ds[0]  # frame 0: target == reference
    x = out['inputs']
    assert torch.equal(x[:3], x[3:])
    s = out['data_samples']
    assert torch.equal(s.gt_sem_seg.data, s.gt_ref_seg.data)
    assert s.metainfo['flip'] is True
    h, w = x.shape[-2:]
    assert 64 - 64 // 8 <= h <= 64 and 96 - 96 // 8 <= w <= 96


def test_missing_mask_is_an_error_naming_the_file(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    mask = root / 'Annotations/480p/train_000/00002.png'
    mask.unlink()
    with pytest.raises(FileNotFoundError, match='00002.png: missing mask'):
        MVPSDataset(str(root), split='train')
    # DAVIS-style datasets treat it as unannotated, and say so
    ds = VideoPortraitDataset(str(root), 'Keyframes/480p', 'Annotations/480p',
                              split='ImageSets/train.txt',
                              require_all_frames_annotated=False)
    assert [p.endswith('train_000/00002') for p in ds.unannotated_frames] \
        == [True]


def test_mask_size_mismatch_is_an_error(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    path = root / 'Annotations/480p/train_000/00001.png'
    cv2.imwrite(str(path), np.zeros((10, 10), np.uint8))
    # validation at build time catches it first (tests/datasets/
    # test_validation.py); the loading transform must catch it too
    ds = MVPSDataset(str(root), split='train', pipeline=TRAIN_PIPELINE,
                     validate=False)
    with pytest.raises(ValueError, match='00001.png: mask size'):
        ds[1]


def test_truncated_and_unreadable_images(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    frame = root / 'Keyframes/480p/train_000/00001.jpg'
    frame.write_bytes(frame.read_bytes()[:200])
    ds = MVPSDataset(str(root), split='train', pipeline=TRAIN_PIPELINE,
                     validate=False)
    with pytest.raises(ValueError, match='00001.jpg: truncated JPEG'):
        ds[1]
    frame.write_bytes(b'not an image at all' * 10 + b'\xff\xd9')
    with pytest.raises(ValueError, match='00001.jpg: not a readable image'):
        ds[1]


def test_empty_split_file(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    (root / 'ImageSets/train.txt').write_text('\n')
    with pytest.raises(ValueError, match='train.txt: split file lists no'):
        MVPSDataset(str(root), split='train')


def test_category_file(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    cats = root / 'ImageSets/categories.txt'
    # categories with a space ("indoor handwork") are one name
    cats.write_text('train_000 indoor handwork\ntrain_001 news\n')
    ds = MVPSDataset(str(root), split='train')
    assert {ds.get_data_info(i)['category']
            for i in range(len(ds))} == {'indoor handwork', 'news'}
    cats.write_text('train_000 news\ntrain_001 cooking\n')
    with pytest.raises(ValueError,
                       match="categories.txt:2: unknown category 'cooking'"):
        MVPSDataset(str(root), split='train')
    cats.unlink()  # no mapping: category None
    ds = MVPSDataset(str(root), split='train')
    assert ds.get_data_info(0)['category'] is None


def test_clip_with_one_frame_is_its_own_reference(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    for sub in ('Keyframes/480p/train_000', 'Annotations/480p/train_000'):
        for f in sorted((root / sub).iterdir())[1:]:
            f.unlink()
    ds = MVPSDataset(str(root), split='train', pipeline=TRAIN_PIPELINE)
    info = ds.get_data_info(0)
    assert info['num_frames'] == 1
    assert info['ref_img_paths'] == [info['img_path']]
    assert ds[0]['inputs'].shape[0] == 6


def test_grayscale_rgba_and_palette_inputs(demo_root, tmp_path):
    root = copy_root(demo_root, tmp_path)
    clip = root / 'Keyframes/480p/train_000'
    gray = cv2.imread(str(clip / '00001.jpg'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(clip / '00001.jpg'), gray)
    rgba = cv2.cvtColor(cv2.imread(str(clip / '00002.jpg')),
                        cv2.COLOR_BGR2BGRA)
    (clip / '00002.jpg').unlink()
    cv2.imwrite(str(clip / '00002.png'), rgba)
    # a 0/1 mask and an object-id mask (DAVIS style, id 3)
    ann = root / 'Annotations/480p/train_000'
    m = cv2.imread(str(ann / '00001.png'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(ann / '00001.png'), (m > 0).astype(np.uint8))
    cv2.imwrite(str(ann / '00002.png'), (m > 0).astype(np.uint8) * 3)
    ds = VideoPortraitDataset(str(root), 'Keyframes/480p', 'Annotations/480p',
                              split='ImageSets/train.txt',
                              pipeline=TEST_PIPELINE[:1] + [
                                  dict(type='LoadPairedAnnotations'),
                                  dict(type='PackPairedSegInputs')])
    assert ds.get_data_info(2)['img_path'].endswith('00002.png')
    for i in (1, 2):
        out = ds[i]
        assert out['inputs'].shape == (6, 64, 96)
        assert torch.equal(out['data_samples'].gt_sem_seg.data[0],
                           torch.from_numpy((m > 0).astype(np.int64)))


def test_photometric_distortion_is_per_frame_and_keeps_masks():
    from mmseg_pdnet.datasets.transforms import PairedPhotoMetricDistortion
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mask = (rng.random((16, 16)) > 0.5).astype(np.uint8)
    np.random.seed(0)
    out = PairedPhotoMetricDistortion(prob=1.0).transform(
        dict(img=img.copy(), ref_imgs=[img.copy()], gt_seg_map=mask.copy(),
             ref_gt_seg_maps=[mask.copy()]))
    assert out['img'].dtype == np.uint8 and out['img'].shape == img.shape
    assert not np.array_equal(out['img'], img)
    # identical inputs, different draws: the frames differ from each other
    assert not np.array_equal(out['img'], out['ref_imgs'][0])
    assert np.array_equal(out['gt_seg_map'], mask)
    assert np.array_equal(out['ref_gt_seg_maps'][0], mask)
    np.random.seed(0)
    same = PairedPhotoMetricDistortion(prob=0.0).transform(
        dict(img=img.copy(), ref_imgs=[img.copy()]))
    assert np.array_equal(same['img'], img)
