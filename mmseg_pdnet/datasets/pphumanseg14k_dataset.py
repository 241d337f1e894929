# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os.path as osp
import re
from collections import defaultdict
from typing import List

from mmseg.registry import DATASETS

from .validation import DatasetError, validate_data_list
from .video_portrait_dataset import VideoPortraitDataset


@DATASETS.register_module()
class PPHumanSeg14KDataset(VideoPortraitDataset):
    """PP-HumanSeg14K (teleconference videos) as paired frames.

    PaddleSeg distributes it as ``images/`` and ``annotations/`` with list
    files ``train.txt`` / ``val.txt`` / ``test.txt`` of ``<image> <mask>``
    lines (paths relative to the root). The list files do not name clips,
    so frames are grouped into clips by ``clip_regex`` applied to the image
    file stem (default: the stem without its trailing frame number, e.g.
    ``video_012_00045`` -> clip ``video_012``); frames of a clip are ordered
    by name. Check the grouping with ``tools/misc/check_dataset.py``.
    Problems of the list file and its files raise
    :class:`~mmseg_pdnet.datasets.DatasetError` naming the file.

    Args:
        data_root (str): Dataset root.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        clip_regex (str): Regex whose first group is the clip name.
        **kwargs: :class:`VideoPortraitDataset` arguments.
    """

    def __init__(self, data_root: str, split: str = 'train',
                 clip_regex: str = r'^(.+?)[_-]?\d+$', **kwargs):
        self.clip_regex = re.compile(clip_regex)
        super().__init__(data_root=data_root, img_dir='', ann_dir='',
                         split=f'{split}.txt', **kwargs)

    def load_data_list(self) -> List[dict]:
        split_file = self._path(self.split)
        if not osp.isfile(split_file):
            raise DatasetError(f'{split_file}: split file does not exist')
        clips = defaultdict(list)
        with open(split_file) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise DatasetError(
                        f'{split_file}:{lineno}: expected "<image> <mask>", '
                        f'got {line.strip()!r}')
                img, ann = (self._path(p) for p in parts)
                for path in (img, ann):
                    if not osp.isfile(path):
                        raise DatasetError(
                            f'{path}: listed in {split_file}:{lineno} but '
                            'does not exist')
                stem = osp.splitext(osp.basename(img))[0]
                match = self.clip_regex.match(stem)
                clips[match.group(1) if match else stem].append((img, ann))
        if not clips:
            raise DatasetError(f'{split_file}: split file lists no frame')
        data_list = []
        for seq in sorted(clips):
            frames = sorted(clips[seq])
            self.clip_paths[seq] = ([f[0] for f in frames],
                                    [f[1] for f in frames])
            for i, (img, ann) in enumerate(frames):
                refs = [frames[r] for r in
                        self._reference_indices(i, len(frames), seq)]
                data_list.append(
                    dict(img_path=img, seg_map_path=ann,
                         ref_img_paths=[r[0] for r in refs],
                         ref_seg_map_paths=[r[1] for r in refs],
                         seq_name=seq, frame_idx=i,
                         frame_name=osp.splitext(osp.basename(img))[0],
                         num_frames=len(frames), category=None,
                         is_image=False))
        if self.validate:
            validate_data_list(data_list)
        return data_list
