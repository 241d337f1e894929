# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The inputs of one run of ``tools/infer_video.py``.

INPUT arguments are expanded into a sorted list of clips, each a video
file or a folder of frames (one video). A folder is either a folder of
frames (images: one clip) or a folder of videos (many clips); one that
holds both, or neither, is refused in one line, so that a folder is never
taken for the other kind. A glob pattern (quoted, so that the tool, not
the shell, expands it) may match video files and frame folders. More
than one clip makes a *batch*: ``--out`` is then a folder, each output is
named after its clip (:func:`batch_outputs`), and under ``torchrun`` the
list is split over the ranks (:func:`shard`).
"""
import glob
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..utils.cli import CLIError
from ..utils.file_types import IMAGE_SUFFIXES, VIDEO_SUFFIXES

GLOB_CHARS = '*?['


@dataclass
class InputList:
    """The clips of a run.

    Attributes:
        clips (list[str]): Video files and frame folders, sorted.
        batch (bool): Many-input mode: INPUT was a folder of videos, a
            glob or several paths; ``--out`` is a folder.
    """
    clips: List[str]
    batch: bool


def _visible(folder: str) -> List[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith('.'))


def folder_kind(folder: str) -> str:
    """``'frames'`` (a folder of images: one clip) or ``'videos'``.

    Other files (a README, a list) are ignored, as the frame reader does.

    Raises:
        CLIError: the folder holds both images and videos, or neither.
    """
    names = [n for n in _visible(folder)
             if osp.isfile(osp.join(folder, n))]
    images = [n for n in names if n.lower().endswith(IMAGE_SUFFIXES)]
    videos = [n for n in names if n.lower().endswith(VIDEO_SUFFIXES)]
    if images and videos:
        raise CLIError(
            f'{folder}: folder holds both frames ({len(images)} images, e.g. '
            f'{images[0]}) and videos ({len(videos)}, e.g. {videos[0]}); a '
            'folder is one video of frames or a folder of videos: move '
            'one kind out')
    if images:
        return 'frames'
    if videos:
        return 'videos'
    subfolders = [n for n in _visible(folder)
                  if osp.isdir(osp.join(folder, n))]
    hint = (f" (for its {len(subfolders)} subfolders of frames, pass the "
            f"quoted glob '{osp.join(folder, '*')}')" if subfolders else '')
    raise CLIError(f'{folder}: folder holds no image frame and no video '
                   f'({"/".join(VIDEO_SUFFIXES)}){hint}')


def _clip_of(path: str, via: Optional[str] = None) -> str:
    """``path`` unless it is a folder that is not a folder of frames
    (``via``: the glob that matched it, for the message). A file is taken
    as it is: the decoder tells whether it is a video."""
    if osp.isdir(path) and folder_kind(path) != 'frames':
        where = f' (matched by {via!r})' if via else ''
        raise CLIError(f'{path}: a folder of videos{where}; give it as its '
                       'own INPUT')
    return path


def expand_inputs(specs: Sequence[str]) -> InputList:
    """Expand INPUT arguments into the clips of a run.

    Args:
        specs (Sequence[str]): Each a video file, a frame folder, a folder
            of videos or a glob pattern.

    Returns:
        InputList: One clip and ``batch=False`` for a single video or
        frame folder (a missing video too: it is named when opened);
        otherwise the sorted clips without duplicates and ``batch=True``.

    Raises:
        CLIError: a mixed or empty folder, a glob that matches nothing or
            a folder of videos.
    """
    clips: List[str] = []
    batch = len(specs) > 1
    for spec in specs:
        spec = str(spec)
        if any(c in spec for c in GLOB_CHARS) and not osp.exists(spec):
            matches = sorted(glob.glob(spec))
            if not matches:
                raise CLIError(f'{spec}: the pattern matches no file')
            clips += [_clip_of(m.rstrip(os.sep), spec) for m in matches]
            batch = True
        elif osp.isdir(spec) and folder_kind(spec) == 'videos':
            clips += [osp.join(spec, n) for n in _visible(spec)
                      if n.lower().endswith(VIDEO_SUFFIXES)]
            batch = True
        else:
            clips.append(_clip_of(spec))
    # sorted: every rank of a distributed run sees the same order
    return InputList(sorted(set(clips)), batch)


def clip_name(clip: str) -> str:
    """The name an output of ``clip`` gets: the file stem, or the frame
    folder's name."""
    clip = osp.normpath(clip)
    return osp.basename(clip) if osp.isdir(clip) else \
        osp.splitext(osp.basename(clip))[0]


def batch_outputs(clips: Sequence[str], out_dir: str, suffix: str
                  ) -> Dict[str, str]:
    """The output path of each clip: ``<out_dir>/<name><suffix>``.

    Args:
        clips (Sequence[str]): The clips.
        out_dir (str): The ``--out`` folder.
        suffix (str): ``'.mp4'``, ... or ``''`` for PNG-sequence folders.

    Returns:
        dict[str, str]: clip -> output path.

    Raises:
        CLIError: two clips would write one output (``a.mp4`` and
            ``a.mov``), or an output would replace its own clip.
    """
    outputs: Dict[str, str] = {}
    owner: Dict[str, str] = {}
    for clip in clips:
        out = osp.join(out_dir, clip_name(clip) + suffix)
        key = osp.normcase(osp.abspath(out))
        if key in owner:
            raise CLIError(f'{owner[key]} and {clip} would both write {out}; '
                           'rename one of them')
        if key == osp.normcase(osp.abspath(clip)):
            raise CLIError(f'{clip}: its output {out} would replace it; '
                           'give another --out folder')
        owner[key], outputs[clip] = clip, out
    return outputs


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """The items rank ``rank`` of ``world_size`` processes takes:
    ``items[rank::world_size]`` (balanced to within one item).

    Raises:
        ValueError: ``rank`` outside ``[0, world_size)``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f'rank {rank} outside 0..{world_size - 1}')
    return list(items[rank::world_size])
