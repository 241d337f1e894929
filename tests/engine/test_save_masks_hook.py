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
