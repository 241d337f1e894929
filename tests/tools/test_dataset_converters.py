import base64
import json
import zlib

import cv2
import numpy as np

from mmseg_pdnet.datasets.mask_codecs import (coco_rle_counts,
                                              decode_coco_segmentation)


def encode_coco_rle(runs):
    """COCO's rleToString, written from its specification."""
    out = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return ''.join(out)


def test_coco_rle_round_trip_and_column_major_order():
    runs = [3, 2, 40, 7, 1000, 0, 5, 123456]
    assert coco_rle_counts(encode_coco_rle(runs)) == runs
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 2] = 1  # column 2, rows 1-2: column-major offsets 9, 10
    flat = mask.T.flatten()
    runs = [9, 2, 9]
    assert flat[9:11].tolist() == [1, 1]
    for segm in ({'size': [4, 5], 'counts': runs},
                 {'size': [4, 5], 'counts': encode_coco_rle(runs)}):
        assert np.array_equal(decode_coco_segmentation(segm, 4, 5), mask)
    poly = decode_coco_segmentation([[1, 1, 3, 1, 3, 3, 1, 3]], 5, 5)
    assert poly[1:4, 1:4].all() and poly.sum() == 9


def test_coco_person_converter(tmp_path, load_tool):
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir()
    for name in ('big.jpg', 'small.jpg'):
        cv2.imwrite(str(img_dir / name), np.zeros((100, 120, 3), np.uint8))
    big = [[0, 0, 100, 0, 100, 80, 0, 80]]  # 101 x 81 px >= 5000
    small = [[0, 0, 10, 0, 10, 10, 0, 10]]
    coco = dict(
        categories=[dict(id=1, name='person'), dict(id=2, name='dog')],
        images=[dict(id=1, file_name='big.jpg', height=100, width=120),
                dict(id=2, file_name='small.jpg', height=100, width=120)],
        annotations=[
            dict(image_id=1, category_id=1, segmentation=big, iscrowd=0),
            dict(image_id=1, category_id=1, iscrowd=1, segmentation={
                'size': [100, 120], 'counts': encode_coco_rle(
                    [100 * 110, 5, 100 * 10 - 5])}),
            dict(image_id=2, category_id=1, segmentation=small, iscrowd=0),
            dict(image_id=2, category_id=2, segmentation=big, iscrowd=0),
        ])
    ann = tmp_path / 'coco.json'
    ann.write_text(json.dumps(coco))
    tool = load_tool('dataset_converters/coco_person.py')
    out = tmp_path / 'out'
    assert tool.main(['--ann-file', str(ann), '--img-dir', str(img_dir),
                      '--out', str(out)]) == 0
    assert sorted(p.name for p in (out / 'images').iterdir()) == ['big.jpg']
    mask = cv2.imread(str(out / 'masks' / 'big.png'), cv2.IMREAD_GRAYSCALE)
    assert (mask[:81, :101] == 255).all()
    assert (mask[:5, 110] == 255).all()  # the crowd region is person too


def test_supervisely_converter(tmp_path, load_tool):
    ds = tmp_path / 'sv' / 'ds1'
    (ds / 'img').mkdir(parents=True)
    (ds / 'ann').mkdir()
    cv2.imwrite(str(ds / 'img' / 'a.png'), np.zeros((30, 40, 3), np.uint8))
    patch = np.zeros((4, 6, 4), np.uint8)
    patch[..., 3] = 255
    ok, png = cv2.imencode('.png', patch)
    bitmap = base64.b64encode(zlib.compress(png.tobytes())).decode()
    ann = dict(size=dict(height=30, width=40), objects=[
        dict(geometryType='polygon', points=dict(
            exterior=[[0, 0], [9, 0], [9, 9], [0, 9]],
            interior=[[[3, 3], [5, 3], [5, 5], [3, 5]]])),
        dict(geometryType='bitmap', bitmap=dict(data=bitmap,
                                                origin=[20, 10]))])
    (ds / 'ann' / 'a.png.json').write_text(json.dumps(ann))
    tool = load_tool('dataset_converters/supervisely.py')
    out = tmp_path / 'out'
    assert tool.main(['--root', str(tmp_path / 'sv'), '--out', str(out)]) == 0
    mask = cv2.imread(str(out / 'masks' / 'ds1_a.png'), cv2.IMREAD_GRAYSCALE)
    assert mask[0, 0] == 255 and mask[4, 4] == 0  # hole
    assert (mask[10:14, 20:26] == 255).all() and mask[14, 20] == 0


def test_coco_person_converter_errors(tmp_path, load_tool, capsys):
    tool = load_tool('dataset_converters/coco_person.py')
    big = [[0, 0, 100, 0, 100, 80, 0, 80]]
    coco = dict(categories=[dict(id=1, name='person')],
                images=[dict(id=1, file_name='gone.jpg', height=100,
                             width=120)],
                annotations=[dict(image_id=1, category_id=1,
                                  segmentation=big, iscrowd=0)])
    ann = tmp_path / 'coco.json'
    ann.write_text(json.dumps(coco))
    args = ['--ann-file', str(ann), '--img-dir', str(tmp_path),
            '--out', str(tmp_path / 'out')]
    assert tool.main(args) == 1
    assert 'gone.jpg: image of annotation id 1 does not exist' in \
        capsys.readouterr().err
    coco['annotations'][0]['image_id'] = 7
    ann.write_text(json.dumps(coco))
    assert tool.main(args) == 1
    assert 'annotation of image id 7' in capsys.readouterr().err
    coco['categories'] = [dict(id=1, name='dog')]
    ann.write_text(json.dumps(coco))
    assert tool.main(args) == 1
    assert 'no "person" category' in capsys.readouterr().err


def test_supervisely_converter_errors(tmp_path, load_tool, capsys):
    tool = load_tool('dataset_converters/supervisely.py')
    ds = tmp_path / 'sv' / 'ds1'
    (ds / 'img').mkdir(parents=True)
    (ds / 'ann').mkdir()
    cv2.imwrite(str(ds / 'img' / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    args = ['--root', str(tmp_path / 'sv'), '--out', str(tmp_path / 'out')]
    assert tool.main(args) == 1
    assert 'a.png.json: missing annotation' in capsys.readouterr().err
    (ds / 'ann' / 'a.png.json').write_text(json.dumps(dict(
        size=dict(height=8, width=8),
        objects=[dict(geometryType='rectangle')])))
    assert tool.main(args) == 1
    assert "a.png.json: unsupported geometry 'rectangle'" in \
        capsys.readouterr().err
    assert tool.main(['--root', str(tmp_path), '--out',
                      str(tmp_path / 'out')]) == 1
    assert 'no <dataset>/img folder' in capsys.readouterr().err
