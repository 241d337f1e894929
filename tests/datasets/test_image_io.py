import cv2
import numpy as np
import pytest

from mmseg_pdnet.datasets.image_io import read_mask, read_soft_mask


def write(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


def test_soft_mask_of_8bit_grayscale_is_value_over_255(tmp_path):
    # a 0/255 mask with an anti-aliased edge (values between 0 and 255)
    mask = np.zeros((6, 8), np.uint8)
    mask[:, 4:] = 255
    mask[:, 3] = 128
    mask[0, 0] = 1  # a faint anti-aliased pixel stays faint
    path = write(tmp_path / 'm.png', mask)
    soft = read_soft_mask(path)
    assert soft.dtype == np.float32 and soft.shape == (6, 8)
    np.testing.assert_array_equal(soft, mask.astype(np.float32) / 255)
    assert soft[0, 3] == np.float32(128) / 255 and soft[0, 0] == 1 / 255
    # binary mode: any value > 0 is portrait
    binary = read_mask(path)
    assert binary.dtype == np.uint8
    np.testing.assert_array_equal(binary, (mask > 0).astype(np.uint8))


def test_soft_mask_of_01_mask_is_01(tmp_path):
    mask = np.zeros((5, 7), np.uint8)
    mask[1:4, 2:6] = 1
    soft = read_soft_mask(write(tmp_path / 'm.png', mask))
    assert soft.dtype == np.float32
    np.testing.assert_array_equal(soft, mask.astype(np.float32))
    empty = read_soft_mask(write(tmp_path / 'e.png', mask * 0))
    assert empty.dtype == np.float32 and not empty.any()


def test_soft_mask_of_palette_png_is_any_object(tmp_path):
    from PIL import Image
    ids = np.zeros((6, 9), np.uint8)
    ids[1:3, 1:3] = 1
    ids[3:5, 4:8] = 2
    img = Image.fromarray(ids, mode='P')
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    img.save(tmp_path / 'p.png')
    soft = read_soft_mask(str(tmp_path / 'p.png'))
    assert soft.dtype == np.float32
    np.testing.assert_array_equal(soft, (ids > 0).astype(np.float32))


def test_soft_mask_of_colour_mask_is_channel_max_over_255(tmp_path):
    mask = np.zeros((4, 6, 3), np.uint8)
    mask[0, 0] = (0, 0, 255)
    mask[1, 1] = (0, 128, 64)
    mask[2, 2] = (30, 10, 20)
    soft = read_soft_mask(write(tmp_path / 'c.png', mask))
    np.testing.assert_array_equal(
        soft, mask.max(axis=2).astype(np.float32) / 255)


def test_soft_mask_of_16bit_png(tmp_path):
    mask = np.zeros((4, 5), np.uint16)
    mask[1:3, 1:4] = 255
    soft = read_soft_mask(write(tmp_path / 'ok16.png', mask))
    np.testing.assert_array_equal(soft, mask.astype(np.float32) / 255)
    mask[2, 2] = 1000
    path = write(tmp_path / 'bad16.png', mask)
    with pytest.raises(ValueError, match=r'bad16.png: mask value 1000 is '
                       'above 255'):
        read_soft_mask(path)


@pytest.mark.parametrize('reader', [read_mask, read_soft_mask])
def test_unreadable_masks_name_the_file(tmp_path, reader):
    with pytest.raises(FileNotFoundError, match='gone.png: file does not'):
        reader(str(tmp_path / 'gone.png'))
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(ValueError, match='empty.png: file is empty'):
        reader(str(tmp_path / 'empty.png'))
    full = write(tmp_path / 'full.png', np.full((8, 8), 255, np.uint8))
    data = open(full, 'rb').read()
    (tmp_path / 'cut.png').write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='cut.png: truncated PNG'):
        reader(str(tmp_path / 'cut.png'))
    (tmp_path / 'junk.png').write_bytes(b'not a png' * 8 + b'IEND')
    with pytest.raises(ValueError, match='junk.png: not a readable mask'):
        reader(str(tmp_path / 'junk.png'))
