"""Soft training masks: crop, flip and bilinear resize exactly as a plain
NumPy/OpenCV oracle of the authors' loader; evaluation masks stay 0/1."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from mmseg_pdnet.datasets.transforms import (LoadPairedAnnotations,
                                             PackPairedSegInputs,
                                             PairedPhotoMetricDistortion,
                                             PairedRandomCrop,
                                             PairedRandomFlip, PairedResize)

H, W = 40, 60
OUT_H, OUT_W = 27, 41  # not a multiple of the crop: fractional weights


def soft_pipeline(resize=True):
    steps = [dict(type='LoadPairedImages'),
             dict(type='LoadPairedAnnotations', soft_masks=True),
             dict(type='PairedRandomCrop', max_drop=1 / 4),
             dict(type='PairedRandomFlip', prob=1.0)]
    if resize:
        steps.append(dict(type='PairedResize', scale=(OUT_W, OUT_H)))
    return Compose(steps + [dict(type='PackPairedSegInputs')])


@pytest.fixture
def pair(tmp_path):
    """Target and reference frames + 0/255 masks with sharp edges.

    Channels 0 and 1 of the target frame hold each pixel's row and
    column, so the crop window can be read back from the output.
    """
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:H, 0:W]
    target = np.stack([rows, cols, rng.integers(0, 256, (H, W))],
                      axis=2).astype(np.uint8)
    ref = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    target_mask = np.zeros((H, W), np.uint8)
    target_mask[9:31, 13:47] = 255
    ref_mask = np.zeros((H, W), np.uint8)
    ref_mask[5:25, 20:58] = 255
    paths = {}
    for name, img, mask in (('t', target, target_mask),
                            ('r', ref, ref_mask)):
        paths[name] = (str(tmp_path / f'{name}.png'),
                       str(tmp_path / f'{name}_mask.png'))
        cv2.imwrite(paths[name][0], img)  # PNG: lossless frames
        cv2.imwrite(paths[name][1], mask)
    info = dict(img_path=paths['t'][0], seg_map_path=paths['t'][1],
                ref_img_paths=[paths['r'][0]],
                ref_seg_map_paths=[paths['r'][1]])
    return info, (target, target_mask), (ref, ref_mask)


def crop_window(info, seed):
    """The crop (rows, cols) the pipeline draws with ``seed``."""
    np.random.seed(seed)
    out = soft_pipeline(resize=False)(dict(info))
    frame = out['inputs'][:3].numpy()
    rows, cols = frame[0, :, 0], frame[1, 0, ::-1]  # undo the flip
    assert (np.diff(rows) == 1).all() and (np.diff(cols) == 1).all()
    return (slice(int(rows[0]), int(rows[-1]) + 1),
            slice(int(cols[0]), int(cols[-1]) + 1))


def oracle(img, crop):
    """crop -> horizontal flip -> cv2.resize bilinear."""
    return cv2.resize(np.ascontiguousarray(img[crop][:, ::-1]),
                      (OUT_W, OUT_H), interpolation=cv2.INTER_LINEAR)


def test_soft_masks_crop_flip_resize_match_the_oracle(pair):
    info, (target, target_mask), (ref, ref_mask) = pair
    seed = 3
    crop = crop_window(info, seed)
    assert crop != (slice(0, H), slice(0, W))  # a real crop
    np.random.seed(seed)
    out = soft_pipeline()(dict(info))
    sample = out['data_samples']

    gt, gt_ref = sample.gt_sem_seg.data, sample.gt_ref_seg.data
    assert gt.dtype == torch.float32 and gt.shape == (1, OUT_H, OUT_W)
    assert gt_ref.dtype == torch.float32 and gt_ref.shape == (1, OUT_H,
                                                              OUT_W)
    expected = oracle(target_mask.astype(np.float32) / 255, crop)
    expected_ref = oracle(ref_mask.astype(np.float32) / 255, crop)
    assert torch.equal(gt[0], torch.from_numpy(expected))
    assert torch.equal(gt_ref[0], torch.from_numpy(expected_ref))
    # soft targets: fractional at the edges, never rounded, within [0, 1]
    for mask in (gt, gt_ref):
        fractional = (mask > 0) & (mask < 1)
        assert fractional.any()
        assert (mask == 0).any() and (mask == 1).any()
        assert mask.min() >= 0 and mask.max() <= 1

    # the frames got the same geometry as the masks (target and reference)
    inputs = out['inputs']
    assert inputs.dtype == torch.uint8
    assert torch.equal(inputs[:3],
                       torch.from_numpy(oracle(target, crop)).permute(2, 0, 1))
    assert torch.equal(inputs[3:],
                       torch.from_numpy(oracle(ref, crop)).permute(2, 0, 1))
    assert sample.metainfo['flip'] is True
    assert sample.metainfo['img_shape'] == (OUT_H, OUT_W)


def test_binary_masks_stay_binary(pair):
    info, (_, target_mask), (_, ref_mask) = pair
    # evaluation: 0/1 int64 at the original resolution (loaded after resize)
    test = Compose([dict(type='LoadPairedImages'),
                    dict(type='PairedResize', scale=32),
                    dict(type='LoadPairedAnnotations', with_ref=False),
                    dict(type='PackPairedSegInputs')])
    out = test(dict(info))
    gt = out['data_samples'].gt_sem_seg.data
    assert out['inputs'].shape == (6, 32, 32)
    assert gt.dtype == torch.int64 and gt.shape == (1, H, W)
    assert torch.equal(gt[0], torch.from_numpy(
        (target_mask > 0).astype(np.int64)))
    assert 'gt_ref_seg' not in out['data_samples']
    # binary training masks: nearest-neighbour resize keeps 0/1 labels
    train = Compose([dict(type='LoadPairedImages'),
                     dict(type='LoadPairedAnnotations'),
                     dict(type='PairedResize', scale=(OUT_W, OUT_H)),
                     dict(type='PackPairedSegInputs')])
    sample = train(dict(info))['data_samples']
    for mask, src in ((sample.gt_sem_seg.data, target_mask),
                      (sample.gt_ref_seg.data, ref_mask)):
        assert mask.dtype == torch.int64
        assert set(mask.unique().tolist()) == {0, 1}
        assert torch.equal(mask[0], torch.from_numpy(cv2.resize(
            (src > 0).astype(np.uint8), (OUT_W, OUT_H),
            interpolation=cv2.INTER_NEAREST).astype(np.int64)))


def test_resize_interpolation_follows_the_mask_dtype():
    mask = np.zeros((10, 10), np.uint8)
    mask[:, 5:] = 1
    results = dict(img=np.zeros((10, 10, 3), np.uint8), ref_imgs=[],
                   gt_seg_map=mask, ref_gt_seg_maps=[mask.astype(np.float32)],
                   ori_shape=(10, 10))
    out = PairedResize(scale=(7, 10)).transform(results)  # (w, h)
    assert out['img'].shape == (10, 7, 3) and out['img_shape'] == (10, 7)
    assert out['gt_seg_map'].dtype == np.uint8
    assert set(np.unique(out['gt_seg_map'])) == {0, 1}
    soft = out['ref_gt_seg_maps'][0]
    assert soft.dtype == np.float32
    assert ((soft > 0) & (soft < 1)).any()
    assert out['scale_factor'] == (0.7, 1.0)


def test_pack_keeps_soft_masks_float():
    soft = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    labels = np.array([[0, 1], [1, 0]], np.uint8)
    frame = np.zeros((2, 2, 3), np.uint8)
    pack = PackPairedSegInputs()
    sample = pack.transform(dict(img=frame, ref_imgs=[frame, frame],
                                 gt_seg_map=soft,
                                 ref_gt_seg_maps=[soft, soft * 0]))[
                                     'data_samples']
    assert sample.gt_sem_seg.data.dtype == torch.float32
    assert torch.equal(sample.gt_sem_seg.data[0], torch.from_numpy(soft))
    assert sample.gt_ref_seg.data.shape == (2, 2, 2)
    assert sample.gt_ref_seg.data.dtype == torch.float32
    sample = pack.transform(dict(img=frame, ref_imgs=[frame],
                                 gt_seg_map=labels,
                                 ref_gt_seg_maps=[labels]))['data_samples']
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.gt_ref_seg.data.dtype == torch.int64
    assert torch.equal(sample.gt_ref_seg.data[0],
                       torch.from_numpy(labels.astype(np.int64)))


def test_soft_annotations_check_sizes_and_repr(pair, tmp_path):
    info, _, _ = pair
    cv2.imwrite(str(tmp_path / 'small.png'), np.zeros((5, 5), np.uint8))
    load = LoadPairedAnnotations(soft_masks=True)
    with pytest.raises(ValueError, match=r'small.png: mask size \(5, 5\) '
                       r'differs from its frame .*/r.png'):
        load.transform(dict(info, ori_shape=(H, W),
                            ref_seg_map_paths=[str(tmp_path / 'small.png')]))
    out = load.transform(dict(info, ori_shape=(H, W)))
    assert out['gt_seg_map'].dtype == np.float32
    assert out['ref_gt_seg_maps'][0].dtype == np.float32
    assert out['seg_fields'] == ['gt_seg_map']
    assert repr(load) == ('LoadPairedAnnotations(with_ref=True, '
                          'soft_masks=True)')
    (tmp_path / 'unreadable.png').write_bytes(b'x' * 40 + b'IEND')
    with pytest.raises(ValueError, match='unreadable.png: not a readable'):
        load.transform(dict(info, ori_shape=(H, W),
                            seg_map_path=str(tmp_path / 'unreadable.png')))


def _frames(seed=0, num=3, size=(12, 20)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size + (3, ), dtype=np.uint8)
            for _ in range(num)]


def _old_distort(img, prob, brightness, contrast, saturation):
    """The per-frame distortion as first written, draws inline (oracle)."""
    if np.random.rand() >= prob:
        return img
    out = img.astype(np.float32)
    out += np.random.uniform(-brightness, brightness)
    out *= np.random.uniform(*contrast)
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8),
                       cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * np.random.uniform(*saturation), 0,
                          255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


@pytest.mark.parametrize('seed', range(6))
def test_random_draws_keep_their_order(seed):
    """The per-sample seeding (exact resume, fidelity runs) relies on the
    values AND the order of the draws: pin them against inline oracles."""
    frames = _frames(seed)
    crop = PairedRandomCrop(max_drop=0.3)
    np.random.seed(seed)
    bbox = crop.crop_bbox(dict(img=frames[0]))
    after = np.random.rand()
    np.random.seed(seed)
    dh, dw = np.random.randint(0, 3 + 1), np.random.randint(0, 6 + 1)
    y0, x0 = np.random.randint(0, dh + 1), np.random.randint(0, dw + 1)
    assert bbox == (y0, y0 + 12 - dh, x0, x0 + 20 - dw)
    assert after == np.random.rand()  # nothing else was drawn

    np.random.seed(seed)
    out = PairedRandomFlip(prob=0.5).transform(
        dict(img=frames[0], ref_imgs=frames[1:]))
    np.random.seed(seed)
    assert out['flip'] is bool(np.random.rand() < 0.5)
    assert out['flip_direction'] == ('horizontal' if out['flip'] else None)

    args = dict(prob=0.6, brightness=20, contrast=(0.7, 1.3),
                saturation=(0.6, 1.4))
    np.random.seed(seed)
    out = PairedPhotoMetricDistortion(
        brightness_delta=20, contrast_range=(0.7, 1.3),
        saturation_range=(0.6, 1.4), prob=0.6).transform(
            dict(img=frames[0], ref_imgs=frames[1:]))
    after = np.random.rand()
    np.random.seed(seed)
    expected = [_old_distort(f, **args) for f in frames]
    for got, want in zip([out['img']] + out['ref_imgs'], expected):
        assert np.array_equal(got, want)
    assert after == np.random.rand()


def test_cache_random_params_replays_every_draw():
    from mmcv.transforms import Compose as MMCVCompose
    from mmcv.transforms.utils import cache_random_params
    frames = _frames(1)
    results = dict(img=frames[0], ref_imgs=frames[1:],
                   gt_seg_map=np.zeros((12, 20), np.uint8),
                   ori_shape=(12, 20))
    pipeline = MMCVCompose([PairedRandomCrop(max_drop=0.5),
                           PairedRandomFlip(prob=0.5),
                           PairedPhotoMetricDistortion(prob=0.5)])

    def run():
        return pipeline({k: list(v) if isinstance(v, list) else v
                         for k, v in results.items()})

    np.random.seed(0)
    with cache_random_params(pipeline):
        first = run()
        for _ in range(3):
            again = run()
            assert np.array_equal(again['img'], first['img'])
            assert all(np.array_equal(a, b) for a, b in zip(
                again['ref_imgs'], first['ref_imgs']))
            assert again['flip'] == first['flip']
    # outside the context every call draws anew
    outputs = {run()['img'].tobytes() for _ in range(5)}
    assert len(outputs) > 1


def test_photometric_distortion_accepts_the_former_argument_names():
    frames = _frames(2)
    with pytest.warns(DeprecationWarning,
                      match="'brightness' is deprecated, use "
                      "'brightness_delta'"):
        old = PairedPhotoMetricDistortion(brightness=10, contrast=(0.9, 1.1),
                                          saturation=[0.8, 1.2], prob=1.0)
    new = PairedPhotoMetricDistortion(brightness_delta=10,
                                      contrast_range=(0.9, 1.1),
                                      saturation_range=(0.8, 1.2), prob=1.0)
    assert repr(old) == repr(new) == (
        'PairedPhotoMetricDistortion(brightness_delta=10, '
        'contrast_range=(0.9, 1.1), saturation_range=(0.8, 1.2), prob=1.0)')
    outs = []
    for t in (old, new):
        np.random.seed(5)
        outs.append(t.transform(dict(img=frames[0], ref_imgs=frames[1:])))
    assert np.array_equal(outs[0]['img'], outs[1]['img'])
    with pytest.raises(TypeError, match="unexpected keyword argument 'hue'"):
        PairedPhotoMetricDistortion(hue=18)


def test_bad_arguments_and_repr():
    with pytest.raises(ValueError, match='max_drop must be in'):
        PairedRandomCrop(max_drop=1.0)
    with pytest.raises(ValueError, match='prob must be in'):
        PairedRandomFlip(prob=1.5)
    for scale in ((0, 5), (4, 5, 6), 2.5, (4.0, 5)):
        with pytest.raises((ValueError, TypeError), match='scale'):
            PairedResize(scale=scale)
    assert repr(PairedResize(scale=[30, 20])) == 'PairedResize(scale=(30, 20))'
    assert repr(PairedResize(scale=32)) == 'PairedResize(scale=(32, 32))'
    assert repr(PairedRandomCrop()) == 'PairedRandomCrop(max_drop=0.125)'
    assert repr(PairedRandomFlip(prob=1.0)) == 'PairedRandomFlip(prob=1.0)'
