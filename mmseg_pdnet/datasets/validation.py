# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Fast checks of a dataset split's files before the first iteration.

A broken file otherwise surfaces only when its sample is loaded, deep in a
data loader worker. :func:`validate_data_list` reads the image headers of
every frame and mask of a split (sizes, no pixel decoding) and the last
bytes of JPEG/PNG files (truncation), and raises one :class:`DatasetError`
whose one-line message names the file and the problem.
"""
import os.path as osp
import struct
from typing import Dict, Iterable, List, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers: every SOFn except DHT (C4), JPG (C8) and
# DAC (CC), which share the range
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field (TEM, RSTn, SOI)
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])
_TAIL_BYTES = 64


class DatasetError(ValueError):
    """A file of a dataset split is missing or unusable.

    The message is one line: ``<path>: <problem>``, optionally followed by
    how many more problems the split has.
    """


def _jpeg_size(f) -> Tuple[int, int]:
    """(H, W) of a JPEG from its SOF segment; ``f`` is just past SOI."""
    while True:
        byte = f.read(1)
        if byte != b'\xff':
            raise ValueError('unreadable JPEG header (no frame size before '
                             'the image data)')
        marker = f.read(1)
        while marker == b'\xff':  # fill bytes
            marker = f.read(1)
        if not marker:
            raise ValueError('unreadable JPEG header (ends before the frame '
                             'size)')
        code = marker[0]
        if code in _JPEG_STANDALONE:
            continue
        length = f.read(2)
        if len(length) < 2:
            raise ValueError('unreadable JPEG header (ends before the frame '
                             'size)')
        if code in _JPEG_SOF:
            sof = f.read(5)  # precision, height, width
            if len(sof) < 5:
                raise ValueError('unreadable JPEG header (short frame '
                                 'segment)')
            _, h, w = struct.unpack('>BHH', sof)
            return h, w
        if code == 0xDA:  # start of scan before any SOF
            raise ValueError('unreadable JPEG header (no frame size before '
                             'the image data)')
        f.seek(struct.unpack('>H', length)[0] - 2, 1)


def image_size(path: str) -> Tuple[int, int]:
    """Size of an image from its header, without decoding pixels.

    PNG and JPEG headers are parsed directly (the format is taken from the
    file's first bytes, as the decoders do); other formats go through a
    lazy ``PIL.Image.open``. JPEG and PNG files named ``.jpg``/``.jpeg``/
    ``.png`` must also end with their end marker, which
    :func:`~mmseg_pdnet.datasets.image_io.read_frame` checks at load time
    (a truncated file would fail there).

    Args:
        path (str): Image file.

    Returns:
        tuple[int, int]: ``(H, W)``.

    Raises:
        DatasetError: ``<path>: <problem>`` when the file is missing, empty,
            truncated or its header cannot be read.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(33)
            if not head:
                raise ValueError('file is empty')
            if head.startswith(_PNG_SIGNATURE):
                if len(head) < 33 or head[12:16] != b'IHDR':
                    raise ValueError('unreadable PNG header (no IHDR chunk)')
                w, h = struct.unpack('>II', head[16:24])
            elif head.startswith(b'\xff\xd8'):
                f.seek(2)
                h, w = _jpeg_size(f)
            else:
                h, w = _pil_size(f)
            suffix = osp.splitext(path)[1].lower()
            if suffix in ('.jpg', '.jpeg', '.png'):
                f.seek(0, 2)
                f.seek(max(f.tell() - _TAIL_BYTES, 0))
                tail = f.read()
                # the same test as image_io's loader, on the last bytes
                if suffix == '.png' and b'IEND' not in tail[-32:]:
                    raise ValueError('truncated PNG (no IEND chunk)')
                if suffix != '.png' and \
                        tail.rstrip(b'\x00')[-2:] != b'\xff\xd9':
                    raise ValueError('truncated JPEG (no end-of-image '
                                     'marker)')
    except FileNotFoundError:
        raise DatasetError(f'{path}: file does not exist') from None
    except (OSError, ValueError, struct.error) as e:
        raise DatasetError(f'{path}: {e}') from None
    if h == 0 or w == 0:
        raise DatasetError(f'{path}: image header gives an empty size '
                           f'{(h, w)}')
    return h, w


def _pil_size(f) -> Tuple[int, int]:
    from PIL import Image, UnidentifiedImageError
    f.seek(0)
    try:
        with Image.open(f) as img:  # lazy: reads the header only
            w, h = img.size
    except UnidentifiedImageError:
        raise ValueError('unreadable header (not an image format OpenCV '
                         'or PIL knows)') from None
    return h, w


def _samples(data: Union[BaseDataset, Sequence[dict]]) -> Iterable[dict]:
    if isinstance(data, BaseDataset):
        data.full_init()
        # BaseDataset.get_data_info: subclasses may draw random references
        return (BaseDataset.get_data_info(data, i) for i in range(len(data)))
    return data


def validate_data_list(data: Union[BaseDataset, Sequence[dict]]) -> int:
    """Check every frame and mask of a split before training or testing.

    Fast: per file one header read and one read of its last bytes, each
    file once (references are frames of the split too). Checks that each
    file exists, is not empty or truncated and has a readable header, that
    each mask has the size of its frame and that each reference frame has
    the size of its target (they are concatenated).

    Args:
        data (BaseDataset | Sequence[dict]): A dataset, or its data list:
            dicts with ``img_path``, ``seg_map_path`` and optionally
            ``ref_img_paths`` and ``ref_seg_map_paths``.

    Returns:
        int: The number of files checked.

    Raises:
        DatasetError: one line naming the first bad file and its problem,
            and how many more problems there are.
    """
    sizes: Dict[str, Tuple[int, int]] = {}
    problems: List[str] = []
    reported = set()

    def size_of(path):
        if path not in sizes:
            try:
                sizes[path] = image_size(path)
            except DatasetError as e:
                sizes[path] = None
                problems.append(str(e))
        return sizes[path]

    def report(path, problem):
        if path not in reported:  # a shared reference is reported once
            reported.add(path)
            problems.append(f'{path}: {problem}')

    for info in _samples(data):
        img, ann = info['img_path'], info.get('seg_map_path')
        refs = list(zip(info.get('ref_img_paths') or [],
                        info.get('ref_seg_map_paths')
                        or [None] * len(info.get('ref_img_paths') or [])))
        img_size = size_of(img)
        for frame, mask in [(img, ann)] + refs:
            frame_size = size_of(frame)
            if frame != img and None not in (frame_size, img_size) \
                    and frame_size != img_size:
                report(frame, f'reference frame size {frame_size} differs '
                       f'from its target frame {img} {img_size}')
            if mask is None:
                continue
            mask_size = size_of(mask)
            if None not in (mask_size, frame_size) \
                    and mask_size != frame_size:
                report(mask, f'mask size {mask_size} differs from its '
                       f'frame {frame} {frame_size}')
    if problems:
        more = len(problems) - 1
        raise DatasetError(
            problems[0] +
            (f' (and {more} more problem(s) in this split; '
             'tools/misc/check_dataset.py checks a whole dataset)'
             if more else ''))
    return len(sizes)
