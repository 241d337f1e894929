import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_pdnet.engine.hooks import SaveMasksHook


def sample(prob, seq='clip_a', frame='00003'):
    s = SegDataSample(metainfo=dict(seq_name=seq, frame_name=frame))
    s.seg_logits = PixelData(data=torch.tensor(prob)[None].float())
    s.pred_sem_seg = PixelData(data=(s.seg_logits.data >= 0.5).long())
    return s


def test_writes_binary_masks_and_probabilities(tmp_path):
    prob = [[0.1, 0.5], [0.9, 0.49]]
    hook = SaveMasksHook(str(tmp_path / 'masks'), str(tmp_path / 'prob'))
    hook.after_test_iter(None, 0, outputs=[sample(prob),
                                           sample(prob, 'clip_b', '00000')])
    mask = cv2.imread(str(tmp_path / 'masks/clip_a/00003.png'),
                      cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, [[0, 255], [255, 0]])
    assert (tmp_path / 'masks/clip_b/00000.png').is_file()
    p = cv2.imread(str(tmp_path / 'prob/clip_a/00003.png'),
                   cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(p, [[26, 128], [230, 125]])


def test_no_probabilities_unless_asked(tmp_path):
    SaveMasksHook(str(tmp_path / 'm')).after_test_iter(
        None, 0, outputs=[sample([[0.7]])])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m']


def test_missing_metainfo_is_an_error(tmp_path):
    s = sample([[0.7]])
    s.set_metainfo(dict(img_path='x.jpg'))
    bad = SegDataSample(metainfo=dict(img_path='x.jpg', seq_name='a'))
    bad.pred_sem_seg = s.pred_sem_seg
    with pytest.raises(KeyError, match='frame_name'):
        SaveMasksHook(str(tmp_path)).after_test_iter(None, 0, outputs=[bad])


def test_probability_pngs_are_the_authors_round_half_to_even(tmp_path):
    """round(255 p) in float32, half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2,
    127.5 -> 128; at the ground truth's resolution (ori_shape)."""
    edge = np.float32(1 / 510)
    prob = np.array([[0.0, edge, np.nextafter(edge, np.float32(1)), 3 / 510],
                     [5 / 510, 0.5, 1.0, 0.999]], np.float32)
    s = sample(prob)
    s.set_metainfo(dict(ori_shape=(2, 4)))
    SaveMasksHook(str(tmp_path / 'm'), str(tmp_path / 'p')).after_test_iter(
        None, 0, outputs=[s])
    p = cv2.imread(str(tmp_path / 'p/clip_a/00003.png'), cv2.IMREAD_UNCHANGED)
    assert p.dtype == np.uint8
    np.testing.assert_array_equal(p, [[0, 0, 1, 2], [2, 128, 255, 255]])
    # the oracle: Python's round() is half to even
    np.testing.assert_array_equal(
        p, [[round(float(v * np.float32(255))) for v in row]
            for row in prob])


def test_wrong_size_or_missing_probability_is_an_error(tmp_path):
    s = sample([[0.7, 0.2]])
    s.set_metainfo(dict(ori_shape=(3, 2)))
    with pytest.raises(ValueError, match=r'clip_a/00003\.png: prediction '
                       r'size \(1, 2\) differs .* \(3, 2\)'):
        SaveMasksHook(str(tmp_path / 'm')).after_test_iter(
            None, 0, outputs=[s])
    s = sample([[0.7]])
    del s.seg_logits
    with pytest.raises(KeyError, match='without seg_logits for '
                       'clip_a/00003.png'):
        SaveMasksHook(str(tmp_path / 'm'), str(tmp_path / 'p')
                      ).after_test_iter(None, 0, outputs=[s])
