# Copyright (c) mmseg-pdnet contributors. All rights reserved.
import difflib
import os
import os.path as osp
import random
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .image_io import IMAGE_SUFFIXES, DatasetError
from .validation import validate_data_list

REFERENCE_STRATEGIES = ('first', 'first+prev5', 'random')


@DATASETS.register_module()
class VideoPortraitDataset(BaseDataset):
    """Paired-frame video portrait dataset (one folder per clip).

    Layout (relative to ``data_root``)::

        <img_dir>/<seq>/<frame>.jpg
        <ann_dir>/<seq>/<frame>.png
        <split file>   one sequence name per line

    Every annotated frame is a target. Its reference frame(s) follow
    ``ref_strategy`` (docs/fidelity.md):

    - ``'first'``: the first annotated frame of the clip (sorted by name),
      for training and inference, as the authors;
    - ``'first+prev5'``: also the annotated frame five annotations before
      the target (clamped at the first one), paper table 5's 2 references;
    - ``'random'``: a random annotated frame of the clip, drawn again at
      every fetch in training (from NumPy's global RNG, which MMEngine
      seeds per worker with ``randomness.seed``); with ``test_mode=True``
      a fixed draw seeded by ``seed``, the sequence and the frame.

    A clip with one annotated frame is valid: the frame is its own
    reference. Each sample carries ``seq_name``, ``frame_idx`` (position
    among the clip's annotated frames), ``frame_name``, ``num_frames``
    (annotated frames of the clip) and ``category`` (from
    ``category_file``, ``<seq> <category>`` per line, or None).

    Args:
        data_root (str): Dataset root.
        img_dir (str): Folder of frame folders, relative to the root.
        ann_dir (str): Folder of mask folders, relative to the root.
        split (str, optional): Split file (relative to the root) listing
            sequences; None uses every sequence folder of ``ann_dir``.
        ref_strategy (str): One of ``'first'``, ``'first+prev5'``,
            ``'random'``.
        prev_offset (int): Annotations between the target and its second
            reference with ``'first+prev5'``. Defaults to 5.
        require_all_frames_annotated (bool): Stop with an error when a
            frame has no mask (MVPS: keyframes are all annotated). False
            treats frames without a mask as unannotated (DAVIS). Frames are
            never silently dropped: unannotated ones are counted in
            ``unannotated_frames``.
        category_file (str, optional): ``<seq> <category>`` lines.
        seed (int): Seed of the fixed random references of test mode.
        img_suffix (str): Frame suffix used in error messages; frames may
            be any of .jpg/.jpeg/.png/.bmp. Defaults to ``'.jpg'``.
        seg_map_suffix (str): Mask file suffix. Defaults to ``'.png'``.
        validate (bool): Check the split's files (headers and sizes, see
            :func:`validate_data_list`) when the data list is loaded, so
            a bad file fails before the first iteration. Defaults to True.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = dict(classes=('background', 'portrait'),
                    palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 data_root: str,
                 img_dir: str,
                 ann_dir: str,
                 split: Optional[str] = None,
                 ref_strategy: str = 'first',
                 prev_offset: int = 5,
                 require_all_frames_annotated: bool = True,
                 category_file: Optional[str] = None,
                 seed: int = 0,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 validate: bool = True,
                 **kwargs):
        if ref_strategy not in REFERENCE_STRATEGIES:
            raise ValueError(f'ref_strategy must be one of '
                             f'{REFERENCE_STRATEGIES}, got {ref_strategy!r}')
        self.img_dir = img_dir
        self.ann_dir = ann_dir
        self.split = split
        self.ref_strategy = ref_strategy
        self.prev_offset = prev_offset
        self.require_all_frames_annotated = require_all_frames_annotated
        self.category_file = category_file
        self.seed = seed
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.validate = validate
        self.unannotated_frames: List[str] = []
        # seq -> (frame paths, mask paths) of its annotated frames, for the
        # per-fetch draw of the random reference strategy
        self.clip_paths: Dict[str, tuple] = {}
        super().__init__(data_root=data_root, **kwargs)

    @property
    def num_refs(self) -> int:
        return 2 if self.ref_strategy == 'first+prev5' else 1

    def _path(self, rel: str) -> str:
        return osp.join(self.data_root, rel)

    def sequences(self) -> List[str]:
        """Sequence names of the split (or every sequence folder)."""
        ann_root = self._path(self.ann_dir)
        if not osp.isdir(ann_root):
            raise FileNotFoundError(f'{ann_root}: annotation folder does not '
                                    'exist')
        if self.split is None:
            return sorted(d for d in os.listdir(ann_root)
                          if osp.isdir(osp.join(ann_root, d)))
        split_file = self._path(self.split)
        if not osp.isfile(split_file):
            raise FileNotFoundError(f'{split_file}: split file does not exist')
        with open(split_file) as f:
            seqs = [line.strip() for line in f if line.strip()]
        if not seqs:
            raise DatasetError(f'{split_file}: split file lists no '
                               'sequence')
        return seqs

    #: allowed category names; None accepts any (generic video datasets)
    CATEGORIES: Optional[Sequence[str]] = None

    def categories(self) -> Dict[str, str]:
        """Sequence -> scenario category, from ``category_file``.

        Names outside :attr:`CATEGORIES` (when set) are an error naming the
        file and line, so a typo cannot create an eighth MVPS scenario.
        """
        if self.category_file is None:
            return {}
        path = self._path(self.category_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: category file does not exist')
        mapping = {}
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.strip().split(maxsplit=1)
                if len(parts) != 2:
                    raise DatasetError(f'{path}:{lineno}: expected "<seq> '
                                       f'<category>", got {line.strip()!r}')
                if (self.CATEGORIES is not None
                        and parts[1] not in self.CATEGORIES):
                    close = difflib.get_close_matches(
                        parts[1], self.CATEGORIES, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ''
                    raise DatasetError(f'{path}:{lineno}: unknown category '
                                       f'{parts[1]!r}{hint}; expected one of '
                                       f'{tuple(self.CATEGORIES)}')
                mapping[parts[0]] = parts[1]
        return mapping

    def _clip_frames(self, seq: str) -> List[tuple]:
        """Sorted ``(stem, frame file name)`` of the annotated frames."""
        img_root = osp.join(self._path(self.img_dir), seq)
        ann_root = osp.join(self._path(self.ann_dir), seq)
        for root, kind in ((img_root, 'frame'), (ann_root, 'annotation')):
            if not osp.isdir(root):
                raise FileNotFoundError(f'{root}: {kind} folder of sequence '
                                        f'{seq!r} does not exist')
        frames = {osp.splitext(f)[0]: f for f in os.listdir(img_root)
                  if f.lower().endswith(IMAGE_SUFFIXES)}
        masks = {osp.splitext(f)[0] for f in os.listdir(ann_root)
                 if f.endswith(self.seg_map_suffix)}
        if not frames:  # before the orphan masks: the real problem
            raise DatasetError(f'{img_root}: frame folder of sequence '
                               f'{seq!r} holds no frames '
                               f'({"/".join(IMAGE_SUFFIXES)})')
        orphans = sorted(masks - frames.keys())
        if orphans:
            raise FileNotFoundError(
                f'{osp.join(img_root, orphans[0] + self.img_suffix)}: frame '
                f'of annotation '
                f'{osp.join(ann_root, orphans[0] + self.seg_map_suffix)} '
                'does not exist')
        missing = sorted(frames.keys() - masks)
        if missing and self.require_all_frames_annotated:
            raise FileNotFoundError(
                f'{osp.join(ann_root, missing[0] + self.seg_map_suffix)}: '
                f'missing mask for frame '
                f'{osp.join(img_root, missing[0] + self.img_suffix)} '
                f'({len(missing)} frame(s) of {seq!r} have no mask)')
        self.unannotated_frames += [osp.join(img_root, s) for s in missing]
        annotated = sorted(masks)
        if not annotated:
            raise DatasetError(f'{ann_root}: sequence {seq!r} has no '
                               'annotated frame')
        return [(stem, frames[stem]) for stem in annotated]

    def _reference_indices(self, idx: int, num: int, seq: str) -> List[int]:
        if self.ref_strategy == 'first':
            return [0]
        if self.ref_strategy == 'first+prev5':
            return [0, max(idx - self.prev_offset, 0)]
        rng = random.Random(f'{self.seed}/{seq}/{idx}')
        return [rng.randrange(num)]

    def load_data_list(self) -> List[dict]:
        """One entry per annotated frame (see the class docstring)."""
        categories = self.categories()
        img_root, ann_root = self._path(self.img_dir), self._path(self.ann_dir)
        data_list = []
        for seq in self.sequences():
            frames = self._clip_frames(seq)
            stems = [stem for stem, _ in frames]
            img = [osp.join(img_root, seq, name) for _, name in frames]
            ann = [osp.join(ann_root, seq, s + self.seg_map_suffix)
                   for s in stems]
            self.clip_paths[seq] = (img, ann)
            for i, stem in enumerate(stems):
                refs = self._reference_indices(i, len(stems), seq)
                data_list.append(
                    dict(
                        img_path=img[i],
                        seg_map_path=ann[i],
                        ref_img_paths=[img[r] for r in refs],
                        ref_seg_map_paths=[ann[r] for r in refs],
                        seq_name=seq,
                        frame_idx=i,
                        frame_name=stem,
                        num_frames=len(stems),
                        category=categories.get(seq),
                        is_image=False))
        if self.validate:
            validate_data_list(data_list)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """Sample ``idx``; training with ``ref_strategy='random'`` draws a
        new reference frame of the clip at every call."""
        info = super().get_data_info(idx)
        if self.ref_strategy == 'random' and not self.test_mode:
            imgs, anns = self.clip_paths[info['seq_name']]
            r = np.random.randint(len(imgs))
            info['ref_img_paths'] = [imgs[r]]
            info['ref_seg_map_paths'] = [anns[r]]
        return info


@DATASETS.register_module()
class MVPSDataset(VideoPortraitDataset):
    """MVPS (paper sec. 3): ``Keyframes/480p``, ``Annotations/480p``,
    ``ImageSets/<split>.txt``; all keyframes are annotated (0/255 masks).

    The MVPS release names its evaluation split ``val``
    (``ImageSets/train.txt`` and ``ImageSets/val.txt``), as the authors'
    loader and the MVPS evaluation code. ``split='val'`` reads
    ``ImageSets/val.txt``; when that file is missing but
    ``ImageSets/test.txt`` exists (copies of MVPS that name the evaluation
    split ``test``), ``test.txt`` is read instead and a log line says so.
    When neither exists the error names both paths. Any other split reads
    ``ImageSets/<split>.txt`` only.

    The public MVPS release has no per-sequence category list, so the
    scenario category (one of the paper's 7, :attr:`CATEGORIES`) is read
    from ``ImageSets/categories.txt`` (``<seq> <category>`` lines, as
    written by ``tools/make_demo_data.py``) when that file exists;
    otherwise ``category`` is None and J&F is reported without the
    per-category breakdown.

    Args:
        data_root (str): The ``MVPS`` folder.
        split (str): ``'train'`` or ``'val'`` (the evaluation split; falls
            back to ``ImageSets/test.txt``), or the name of any other
            ``ImageSets/<split>.txt``. Defaults to ``'train'``.
        **kwargs: :class:`VideoPortraitDataset` arguments.
    """

    CATEGORIES = ('entertainment', 'indoor handwork', 'interview', 'lecture',
                  'news', 'outdoor activity', 'online shopping')
    #: split file read for ``split='val'`` when ``ImageSets/val.txt`` is
    #: missing
    VAL_FALLBACK = 'ImageSets/test.txt'

    def __init__(self, data_root: str, split: str = 'train', **kwargs):
        category_file = 'ImageSets/categories.txt'
        kwargs.setdefault(
            'category_file',
            category_file if osp.isfile(osp.join(data_root, category_file))
            else None)
        super().__init__(
            data_root=data_root,
            img_dir=kwargs.pop('img_dir', 'Keyframes/480p'),
            ann_dir=kwargs.pop('ann_dir', 'Annotations/480p'),
            split=f'ImageSets/{split}.txt',
            **kwargs)

    def sequences(self) -> List[str]:
        """Sequence names of the split; ``val`` falls back to
        ``ImageSets/test.txt`` (see the class docstring)."""
        if self.split == 'ImageSets/val.txt':
            val, test = self._path(self.split), self._path(self.VAL_FALLBACK)
            if not osp.isfile(val):
                if not osp.isfile(test):
                    raise FileNotFoundError(
                        f'{val}: split file does not exist, nor does {test} '
                        "(read for split='val' when val.txt is missing)")
                print_log(f'{val} does not exist: reading the val split '
                          f'from {test}', logger='current')
                self.split = self.VAL_FALLBACK
        return super().sequences()


@DATASETS.register_module()
class DAVISVideoDataset(VideoPortraitDataset):
    """DAVIS 2016/2017: ``JPEGImages/480p``, ``Annotations/480p`` (palette
    PNGs; any object id > 0 is foreground), ``ImageSets/<year>/<split>.txt``.

    Frames without an annotation are not targets (and are counted in
    ``unannotated_frames``).

    Args:
        data_root (str): The ``DAVIS`` folder.
        year (str): ``'2016'`` or ``'2017'``.
        split (str): ``'train'`` or ``'val'``.
        **kwargs: :class:`VideoPortraitDataset` arguments.
    """

    def __init__(self, data_root: str, year: str = '2017',
                 split: str = 'val', **kwargs):
        kwargs.setdefault('require_all_frames_annotated', False)
        super().__init__(
            data_root=data_root,
            img_dir='JPEGImages/480p',
            ann_dir='Annotations/480p',
            split=f'ImageSets/{year}/{split}.txt',
            **kwargs)
