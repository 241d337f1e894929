# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import os.path as osp
import re
from collections import defaultdict
from typing import List, Optional

from mmseg.registry import DATASETS

from .validation import DatasetError, validate_data_list
from .video_portrait_dataset import VideoPortraitDataset


def authors_clip_name(listed_path: str) -> str:
    """The clip of a PP-HumanSeg14K frame, as the PDNet authors' loader
    names it: the image path AS WRITTEN in the list file without its first
    7 and last 8 characters (``path[7:-8]``).

    For the list files' ``images/<split>/<name>.jpg`` paths this drops the
    ``images/`` prefix and the last four characters of the file stem with
    the ``.jpg`` suffix, e.g. ``images/train/meeting_03_0045.jpg`` ->
    ``train/meeting_03_``. Frames whose paths differ only in those last
    four characters are one clip.

    Args:
        listed_path (str): The first column of a list file line.

    Returns:
        str: The clip name (empty for paths of 15 characters or fewer).
    """
    return listed_path[7:-8]


@DATASETS.register_module()
class PPHumanSeg14KDataset(VideoPortraitDataset):
    """PP-HumanSeg14K (teleconference videos) as paired frames.

    PaddleSeg distributes it as ``images/`` and ``annotations/`` with list
    files ``train.txt`` / ``val.txt`` / ``test.txt`` of ``<image> <mask>``
    lines (paths relative to the root; the test set's masks are not
    released, so ``test.txt`` cannot be evaluated). ``split`` names the
    list file: ``'train'`` reads ``train.txt``; the PDNet authors trained
    and evaluated on lists of their own, ``train_new.txt`` and
    ``val_new.txt``, which ``split='train_new'`` / ``'val_new'`` read when
    you have them (they are not public, docs/fidelity.md).

    The list files do not name clips. By default frames are grouped as the
    authors' loader groups them (:func:`authors_clip_name`): the listed
    image path without its first 7 and last 8 characters, e.g.
    ``images/train/meeting_03_0045.jpg`` -> clip ``train/meeting_03_``.
    ``clip_regex`` replaces that rule by a regex whose first group, matched
    against the image file stem, is the clip name (a stem that does not
    match is its own clip). As the authors, clips are ordered by name and
    the frames of a clip by path; the reference frame of ``'first'`` is
    the clip's first frame; :attr:`clip_paths` maps each clip to its
    frames. A list whose paths get an empty clip name from the authors'
    rule is refused. Problems of the list file and its files raise
    :class:`~mmseg_pdnet.datasets.DatasetError` naming the file.

    Args:
        data_root (str): Dataset root.
        split (str): The list file ``<split>.txt`` under the root, e.g.
            ``'train'``, ``'val'``, ``'train_new'``, ``'val_new'``.
            Defaults to ``'train'``.
        clip_regex (str, optional): Regex whose first group is the clip
            name of a file stem. Defaults to None: the authors' rule.
        **kwargs: :class:`VideoPortraitDataset` arguments.
    """

    def __init__(self, data_root: str, split: str = 'train',
                 clip_regex: Optional[str] = None, **kwargs):
        self.clip_regex = None if clip_regex is None else re.compile(
            clip_regex)
        super().__init__(data_root=data_root, img_dir='', ann_dir='',
                         split=f'{split}.txt', **kwargs)

    def clip_name(self, listed_path: str) -> str:
        """The clip of a frame listed as ``listed_path``.

        Args:
            listed_path (str): The image path as written in the list file.

        Returns:
            str: The clip name (see the class docstring).
        """
        if self.clip_regex is None:
            return authors_clip_name(listed_path)
        stem = osp.splitext(osp.basename(listed_path))[0]
        match = self.clip_regex.match(stem)
        return match.group(1) if match else stem

    def load_data_list(self) -> List[dict]:
        split_file = self._path(self.split)
        if not osp.isfile(split_file):
            raise DatasetError(f'{split_file}: split file does not exist')
        clips = defaultdict(list)
        unnamed = None  # first line whose frame gets an empty clip name
        with open(split_file) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise DatasetError(
                        f'{split_file}:{lineno}: expected "<image> <mask>", '
                        f'got {line.strip()!r} (the test set of the '
                        'PP-HumanSeg14K release lists images without masks '
                        'and cannot be evaluated)')
                img, ann = (self._path(p) for p in parts)
                for path in (img, ann):
                    if not osp.isfile(path):
                        raise DatasetError(
                            f'{path}: listed in {split_file}:{lineno} but '
                            'does not exist')
                seq = self.clip_name(parts[0])
                if not seq and unnamed is None:
                    unnamed = (lineno, parts[0])
                clips[seq].append((img, ann))
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
        if unnamed is not None:
            # checked after the files: a broken file is the first problem
            lineno, path = unnamed
            raise DatasetError(
                f'{split_file}:{lineno}: {path!r} gets an empty clip name '
                "from the authors' rule (path[7:-8], written for "
                "'images/<split>/<video><4-character frame>.jpg' paths); "
                'list such paths or pass clip_regex')
        return data_list
