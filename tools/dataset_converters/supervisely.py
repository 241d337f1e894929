#!/usr/bin/env python
"""Convert Supervisely Person to portrait image + mask folders.

Reads every ``<dataset>/img/<name>`` with its ``<dataset>/ann/<name>.json``
(polygon and bitmap objects; every object is a person) and writes
``OUT/images/<dataset>_<name>`` and ``OUT/masks/<dataset>_<stem>.png``
(0/255), the layout of PortraitImageDataset.

Example:
    python tools/dataset_converters/supervisely.py \
        --root Supervisely_Person_Dataset --out data/Supervisely
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np

from mmseg_pdnet.datasets.mask_codecs import (decode_supervisely_bitmap,
                                              polygon_mask)


def annotation_mask(ann: dict, path: str) -> np.ndarray:
    h, w = ann['size']['height'], ann['size']['width']
    mask = np.zeros((h, w), np.uint8)
    for obj in ann.get('objects', []):
        kind = obj.get('geometryType')
        if kind == 'polygon':
            pts = obj['points']
            mask |= polygon_mask(pts['exterior'], pts.get('interior'), h, w)
        elif kind == 'bitmap':
            mask |= decode_supervisely_bitmap(obj['bitmap']['data'],
                                              obj['bitmap']['origin'], h, w)
        else:
            raise ValueError(f'{path}: unsupported geometry {kind!r}')
    return mask


def convert(root, out):
    datasets = sorted(d for d in os.listdir(root)
                      if osp.isdir(osp.join(root, d, 'img')))
    if not datasets:
        raise FileNotFoundError(f'{root}: no <dataset>/img folder')
    os.makedirs(osp.join(out, 'images'), exist_ok=True)
    os.makedirs(osp.join(out, 'masks'), exist_ok=True)
    written = 0
    for ds in datasets:
        for name in sorted(os.listdir(osp.join(root, ds, 'img'))):
            ann_path = osp.join(root, ds, 'ann', name + '.json')
            if not osp.isfile(ann_path):
                raise FileNotFoundError(f'{ann_path}: missing annotation of '
                                        f'{osp.join(root, ds, "img", name)}')
            with open(ann_path) as f:
                mask = annotation_mask(json.load(f), ann_path)
            stem = f'{ds}_{osp.splitext(name)[0]}'
            shutil.copyfile(osp.join(root, ds, 'img', name),
                            osp.join(out, 'images', f'{ds}_{name}'))
            cv2.imwrite(osp.join(out, 'masks', f'{stem}.png'), mask * 255)
            written += 1
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    try:
        n = convert(args.root, args.out)
    except (OSError, ValueError, KeyError) as e:
        print(f'supervisely: error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {n} images to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
