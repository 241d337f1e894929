# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os
import os.path as osp
from typing import List, Optional

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from .validation import validate_data_list
from .image_io import IMAGE_SUFFIXES


@DATASETS.register_module()
class PortraitImageDataset(BaseDataset):
    """Still portrait images as pairs whose reference is the image itself.

    For the image steps of the alternating image/video training
    (docs/fidelity.md): EG1800, Supervisely Person and COCO-person
    images prepared as image + mask folders (see
    ``tools/dataset_converters/``). Samples have ``is_image=True``.

    Layout: ``<img_dir>/<name>.<jpg|png>`` and ``<ann_dir>/<name>.png``;
    every image needs a mask (an error names the first one missing).

    Args:
        data_root (str): Dataset root.
        img_dir (str): Image folder relative to the root.
        ann_dir (str): Mask folder relative to the root.
        split (str, optional): File listing image names (no suffix), one
            per line; None uses every image.
        seg_map_suffix (str): Mask suffix. Defaults to ``'.png'``.
        num_refs (int): References per sample (the image repeated), to
            match the model's reference count. Defaults to 1.
        validate (bool): Check the images and masks (headers and sizes,
            see :func:`validate_data_list`) when the data list is loaded.
            Defaults to True.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(classes=('background', 'portrait'),
                    palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self, data_root: str, img_dir: str = 'images',
                 ann_dir: str = 'masks', split: Optional[str] = None,
                 seg_map_suffix: str = '.png', num_refs: int = 1,
                 validate: bool = True, **kwargs):
        self.img_dir, self.ann_dir = img_dir, ann_dir
        self.split = split
        self.seg_map_suffix = seg_map_suffix
        self.num_refs = num_refs
        self.validate = validate
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        img_root = osp.join(self.data_root, self.img_dir)
        ann_root = osp.join(self.data_root, self.ann_dir)
        if not osp.isdir(img_root):
            raise FileNotFoundError(f'{img_root}: image folder does not exist')
        images = {osp.splitext(f)[0]: f for f in os.listdir(img_root)
                  if f.lower().endswith(IMAGE_SUFFIXES)}
        if self.split is not None:
            split_file = osp.join(self.data_root, self.split)
            if not osp.isfile(split_file):
                raise FileNotFoundError(
                    f'{split_file}: split file does not exist')
            with open(split_file) as f:
                names = [line.strip() for line in f if line.strip()]
            if not names:
                raise ValueError(f'{split_file}: split file lists no image')
            unknown = [n for n in names if n not in images]
            if unknown:
                raise FileNotFoundError(f'{split_file}: image {unknown[0]!r} '
                                        f'is not in {img_root}')
        else:
            names = sorted(images)
        if not names:
            raise ValueError(f'{img_root}: no image found')
        data_list = []
        for name in names:
            img = osp.join(img_root, images[name])
            ann = osp.join(ann_root, name + self.seg_map_suffix)
            if not osp.isfile(ann):
                raise FileNotFoundError(f'{ann}: missing mask for image {img}')
            data_list.append(
                dict(img_path=img, seg_map_path=ann,
                     ref_img_paths=[img] * self.num_refs,
                     ref_seg_map_paths=[ann] * self.num_refs,
                     seq_name=name, frame_idx=0, frame_name=name,
                     num_frames=1, category=None, is_image=True))
        if self.validate:
            validate_data_list(data_list)
        return data_list
