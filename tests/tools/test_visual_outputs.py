"""What users see in the pictures: background fitting, titles of the
--show-dir panels, the contact sheet's sampling and labels."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_pdnet.apis.compositing import (ContactSheetSampler, contact_sheet,
                                          fit_background, overlay, put_title,
                                          replace_background)
from mmseg_pdnet.engine.hooks import PairVisualizationHook


def columns(h, w):
    """An image whose blue value is its column index (0..w-1)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w, dtype=np.uint8)[None]
    return img


def test_background_is_cropped_not_stretched():
    # a wide background on a square frame: the centre, at scale 1
    wide = columns(100, 200)
    fitted = fit_background(wide, (100, 100))
    assert fitted.shape == (100, 100, 3)
    np.testing.assert_array_equal(fitted, wide[:, 50:150])
    # scaled up to cover (x2), then centre-cropped: columns 25..75
    small = columns(50, 100)
    fitted = fit_background(small, (100, 100))
    assert fitted.shape == (100, 100, 3)
    blue = fitted[50, :, 0].astype(int)
    assert abs(blue[0] - 25) <= 1 and abs(blue[-1] - 74) <= 1
    # aspect kept: one source column spans two output columns
    assert np.abs(np.diff(blue)).max() <= 1
    # a tall background on a wide frame: cut at top and bottom
    tall = np.zeros((300, 100, 3), np.uint8)
    tall[..., 1] = np.arange(300, dtype=np.uint16)[:, None] * 255 // 299
    fitted = fit_background(tall, (50, 100))
    assert fitted.shape == (50, 100, 3)
    np.testing.assert_array_equal(fitted, tall[125:175])


def test_replace_background_fits_an_image_of_another_aspect():
    frame = np.full((100, 100, 3), 200, np.uint8)
    alpha = np.zeros((100, 100), np.float32)  # all background
    wide = columns(100, 200)
    out = replace_background(frame, alpha, wide)
    np.testing.assert_array_equal(out, wide[:, 50:150])


def test_put_title_draws_inside_and_keeps_the_size():
    img = np.full((60, 200, 3), 120, np.uint8)
    titled = put_title(img, 'reference')
    assert titled.shape == img.shape and (img == 120).all()  # a copy
    band = titled[:20, :100]
    assert (band > 200).any() and (band < 120).any()  # text on dark band
    assert (titled[40:] == 120).all()  # the rest is untouched


def panel_sample(tmp_path):
    seq = tmp_path / 'clip'
    seq.mkdir()
    for name in ('00000', '00003'):
        cv2.imwrite(str(seq / f'{name}.png'),
                    np.full((120, 160, 3), 120, np.uint8))
    s = SegDataSample()
    pred = torch.zeros(1, 120, 160, dtype=torch.long)
    pred[0, 60:, 60:100] = 1
    s.pred_sem_seg = PixelData(data=pred)
    s.gt_sem_seg = PixelData(data=pred.clone())
    s.pred_parts = PixelData(data=torch.rand(3, 8, 10))
    s.set_metainfo(dict(img_path=str(seq / '00003.png'),
                        ref_img_paths=[str(seq / '00000.png')]))
    return s


def test_pair_panels_have_titles(tmp_path):
    sample = panel_sample(tmp_path)
    panel = PairVisualizationHook.panels(sample)
    assert panel.shape == (120, 5 * 160, 3)
    tiles = [panel[:, 160 * i:160 * (i + 1)] for i in range(5)]
    frame = np.full((120, 160, 3), 120, np.uint8)
    mask = sample.pred_sem_seg.data[0].numpy().astype(np.uint8)
    # exactly the untitled panels with their titles drawn on
    np.testing.assert_array_equal(tiles[0], put_title(frame, 'target'))
    np.testing.assert_array_equal(tiles[1], put_title(frame, 'reference'))
    np.testing.assert_array_equal(
        tiles[2], put_title(overlay(frame, mask), 'prediction'))
    np.testing.assert_array_equal(
        tiles[3], put_title(overlay(frame, mask, color=(0, 0, 220)),
                            'ground truth'))
    assert (tiles[4][:16, :60] > 200).any()  # 'parts' on the part map
    # the title is small: the frame below it is untouched
    assert (tiles[0][40:] == 120).all()


def test_contact_sheet_sampler_spans_the_whole_clip():
    sampler = ContactSheetSampler(rows=8, width=32)
    tile = np.zeros((24, 32, 3), np.uint8)
    offered = 0
    for index in range(120):
        if sampler.wants(index):
            offered += 1
        sampler.add(index, [tile])
    indices, rows = sampler.rows()
    assert len(indices) == len(rows) == 8
    assert indices[0] == 0 and indices[-1] >= 100  # to the end, not 0..70
    steps = np.diff(indices)
    assert steps.min() == steps.max()  # evenly spread
    # bounded memory: few frames are ever rendered and kept
    assert offered < 40 and len(sampler._kept) <= 16
    # a short clip: every frame
    short = ContactSheetSampler(rows=8)
    for index in range(5):
        short.add(index, [tile])
    assert short.rows()[0] == [0, 1, 2, 3, 4]


def test_contact_sheet_labels_rows(tmp_path):
    rows = [[np.full((30, 40, 3), 120, np.uint8)] * 2 for _ in range(3)]
    path = str(tmp_path / 'sheet.png')
    contact_sheet(rows, path, width=200,
                  labels=['frame 0', 'frame 50', 'frame 100'],
                  titles=['frame', 'overlay'])
    sheet = cv2.imread(path)
    assert sheet.shape == (3 * 150, 2 * 200, 3)
    for r in range(3):
        assert (sheet[150 * r:150 * r + 16, :60] > 200).any()  # label
    # each row's label is its own
    assert not np.array_equal(sheet[:16, :80], sheet[150:166, :80])
    with pytest.raises(ValueError, match='2 labels for 3 rows'):
        contact_sheet(rows, path, labels=['a', 'b'])
