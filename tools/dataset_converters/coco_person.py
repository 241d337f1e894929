#!/usr/bin/env python
"""Convert COCO person instances to portrait image + mask folders.

Keeps the images that hold at least one (non-crowd) person of at least
``--min-area`` pixels (5,000 in the paper) and writes
``OUT/images/<file_name>`` and ``OUT/masks/<file stem>.png`` (0/255,
all persons of the image, crowd regions included), the layout of
PortraitImageDataset. Polygons and (un)compressed RLE are decoded by
``mmseg_pdnet.datasets.mask_codecs`` (no pycocotools needed).

Example:
    python tools/dataset_converters/coco_person.py \
        --ann-file coco/annotations/instances_train2017.json \
        --img-dir coco/train2017 --out data/COCO-person
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
from collections import defaultdict

import cv2
import numpy as np

from mmseg_pdnet.datasets.mask_codecs import decode_coco_segmentation


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann-file', required=True)
    parser.add_argument('--img-dir', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--min-area', type=int, default=5000)
    return parser.parse_args(argv)


def convert(ann_file, img_dir, out, min_area=5000):
    with open(ann_file) as f:
        coco = json.load(f)
    person_ids = {c['id'] for c in coco['categories'] if c['name'] == 'person'}
    if not person_ids:
        raise ValueError(f'{ann_file}: no "person" category')
    images = {img['id']: img for img in coco['images']}
    by_image = defaultdict(list)
    for ann in coco['annotations']:
        if ann['category_id'] in person_ids:
            by_image[ann['image_id']].append(ann)
    os.makedirs(osp.join(out, 'images'), exist_ok=True)
    os.makedirs(osp.join(out, 'masks'), exist_ok=True)
    written = 0
    for image_id in sorted(by_image):
        if image_id not in images:
            raise KeyError(f'{ann_file}: annotation of image id {image_id} '
                           'that is not in "images"')
        info = images[image_id]
        h, w = info['height'], info['width']
        mask = np.zeros((h, w), np.uint8)
        large = False
        for ann in by_image[image_id]:
            inst = decode_coco_segmentation(ann['segmentation'], h, w)
            mask |= inst
            large |= (not ann.get('iscrowd', 0) and
                      int(inst.sum()) >= min_area)
        if not large:
            continue
        src = osp.join(img_dir, info['file_name'])
        if not osp.isfile(src):
            raise FileNotFoundError(f'{src}: image of annotation id '
                                    f'{image_id} does not exist')
        stem = osp.splitext(info['file_name'])[0]
        shutil.copyfile(src, osp.join(out, 'images', info['file_name']))
        cv2.imwrite(osp.join(out, 'masks', f'{stem}.png'), mask * 255)
        written += 1
    return written


def main(argv=None):
    args = parse_args(argv)
    try:
        n = convert(args.ann_file, args.img_dir, args.out, args.min_area)
    except (OSError, ValueError, KeyError) as e:
        print(f'coco_person: error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {n} images with a person of >= {args.min_area} px to '
          f'{args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
