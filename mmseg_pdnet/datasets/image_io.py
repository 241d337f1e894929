# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Strict image and mask reading: errors name the file and the problem.

Every reader takes the image size from the file's header before decoding
pixels, and refuses images above :data:`MAX_IMAGE_PIXELS` (a
decompression bomb: a few kilobytes of PNG can declare 65535x65535
pixels, 12 GiB once decoded) with an error naming the file.
"""
import io
import os.path as osp
import struct
from typing import Optional, Tuple

import cv2
import numpy as np

# re-exported: the datasets and tools import it from here
from ..utils.file_types import IMAGE_SUFFIXES  # noqa: F401
_JPEG_SUFFIXES = ('.jpg', '.jpeg')
#: largest image (H * W) any reader decodes: 100 megapixels, three times
#: an 8K UHD frame (7680x4320); ~300 MB as a BGR array
MAX_IMAGE_PIXELS = 100_000_000



class DatasetError(ValueError):
    """A file of a dataset split is missing or unusable.

    The message is one line: ``<path>: <problem>``, optionally followed by
    how many more problems the split has. (Defined here, where the
    readers live; :mod:`.validation` exports it.)
    """


_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers: every SOFn except DHT (C4), JPG (C8) and
# DAC (CC), which share the range
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field (TEM, RSTn, SOI)
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])


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


def _pil_size(f) -> Tuple[int, int]:
    from PIL import Image, UnidentifiedImageError
    f.seek(0)
    try:
        with Image.open(f) as img:  # lazy: reads the header only
            w, h = img.size
    except UnidentifiedImageError:
        raise ValueError('unreadable header (not an image format OpenCV '
                         'or PIL knows)') from None
    except Image.DecompressionBombError:  # PIL refuses in open() too
        raise ValueError('header declares more pixels than PIL decodes '
                         '(a decompression bomb?)') from None
    return h, w


def header_size(f) -> Tuple[int, int]:
    """``(H, W)`` from an image file's header, without decoding pixels.

    PNG and JPEG headers are parsed directly (the format is taken from the
    first bytes, as the decoders do); other formats go through a lazy
    ``PIL.Image.open``.

    Args:
        f (file): A binary file object at its start.

    Returns:
        tuple[int, int]: ``(H, W)``.

    Raises:
        ValueError / struct.error: the header cannot be read (without a
            path: the callers add it).
    """
    head = f.read(33)
    if not head:
        raise ValueError('file is empty')
    if head.startswith(_PNG_SIGNATURE):
        if len(head) < 33 or head[12:16] != b'IHDR':
            raise ValueError('unreadable PNG header (no IHDR chunk)')
        w, h = struct.unpack('>II', head[16:24])
        return h, w
    if head.startswith(b'\xff\xd8'):
        f.seek(2)
        return _jpeg_size(f)
    return _pil_size(f)


def pixel_limit_error(path: str, size: Tuple[int, int]) -> str:
    """The message for an image above :data:`MAX_IMAGE_PIXELS`, or ``''``.

    Args:
        path (str): The file, named in the message.
        size (tuple[int, int]): ``(H, W)`` from its header.
    """
    h, w = size
    if h * w <= MAX_IMAGE_PIXELS:
        return ''
    return (f'{path}: image header declares {w}x{h} (WxH) = {h * w} pixels, '
            f'above the limit of {MAX_IMAGE_PIXELS} (a decompression bomb or '
            'a damaged header); not decoded')


def check_image_header(path: str, data: bytes) -> Optional[Tuple[int, int]]:
    """Read the size from the header of an image held in ``data`` and
    refuse it above :data:`MAX_IMAGE_PIXELS`, before any decoding.

    A header this parser cannot read is left to the decoder (OpenCV knows
    more formats; its error names the file too).

    Args:
        path (str): The file, named in the errors.
        data (bytes): Its content.

    Returns:
        tuple[int, int] | None: ``(H, W)``, or None for an unreadable
        header.

    Raises:
        ValueError: ``<path>: <problem>`` for an image above the limit.
    """
    try:
        size = header_size(io.BytesIO(data))
    except (ValueError, struct.error, OSError):
        return None
    problem = pixel_limit_error(path, size)
    if problem:
        raise ValueError(problem)
    return size


def _imdecode(path: str, data: bytes, flags: int, what: str) -> np.ndarray:
    """``cv2.imdecode`` whose failures (None or ``cv2.error``) name the
    file."""
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as e:
        reason = ' '.join(str(e).split()[-6:])
        raise ValueError(f'{path}: not a readable {what} (OpenCV: '
                         f'{reason})') from None
    if img is None:
        raise ValueError(f'{path}: not a readable {what}')
    return img


def _read_bytes(path: str) -> bytes:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        raise ValueError(f'{path}: file is empty')
    return data


def _check_complete(path: str, data: bytes) -> None:
    """Detect truncated JPEG/PNG files, which OpenCV decodes partially."""
    suffix = osp.splitext(path)[1].lower()
    if suffix in _JPEG_SUFFIXES and data.rstrip(b'\x00')[-2:] != b'\xff\xd9':
        raise ValueError(f'{path}: truncated JPEG (no end-of-image marker)')
    if suffix == '.png' and b'IEND' not in data[-32:]:
        raise ValueError(f'{path}: truncated PNG (no IEND chunk)')


def read_frame(path: str) -> np.ndarray:
    """Read a video frame or image as a 3-channel BGR uint8 array.

    Grayscale frames are replicated to 3 channels and RGBA frames lose
    their alpha channel (OpenCV's colour decoding), so every frame has the
    same layout.

    Args:
        path (str): Image file.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, BGR.

    Raises:
        FileNotFoundError / ValueError: naming the file, when it is missing,
        empty, truncated, above :data:`MAX_IMAGE_PIXELS` or not a
        decodable image.
    """
    data = _read_bytes(path)
    _check_complete(path, data)
    check_image_header(path, data)
    return _imdecode(path, data, cv2.IMREAD_COLOR, 'image')


def _decode_mask(path: str):
    """Decode a mask file.

    Returns:
        tuple[np.ndarray, bool]: the ``(H, W)`` mask (colour masks reduced
        to their largest channel) and whether it holds palette object ids.
    """
    data = _read_bytes(path)
    _check_complete(path, data)
    check_image_header(path, data)
    if data[:8] == _PNG_SIGNATURE and data[25] == 3:
        # palette PNG (DAVIS): OpenCV would expand the palette to colours,
        # so read the object ids themselves
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img), True
    mask = _imdecode(path, data, cv2.IMREAD_UNCHANGED, 'mask image')
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    return mask, False


def read_mask(path: str) -> np.ndarray:
    """Read a portrait mask as 0/1.

    Accepts 0/255 and 0/1 PNGs and DAVIS palette PNGs: any value > 0 (any
    object id) is portrait foreground. Colour masks count a pixel as
    foreground when any channel is > 0.

    Args:
        path (str): Mask file.

    Returns:
        np.ndarray: ``(H, W)`` uint8 with values 0 and 1.

    Raises:
        FileNotFoundError / ValueError: naming the file, when it is missing,
        empty, truncated or not a decodable image.
    """
    mask, _ = _decode_mask(path)
    return (mask > 0).astype(np.uint8)


def read_soft_mask(path: str) -> np.ndarray:
    """Read a portrait mask as a soft float mask in [0, 1] (training).

    As the PDNet authors' training loader (docs/fidelity.md), a mask is
    its 8-bit value divided by 255, so anti-aliased edges stay fractional
    and 0/255 masks become 0.0/1.0. Masks whose largest value is <= 1
    (0/1 masks) are taken as they are (0.0/1.0), DAVIS palette PNGs as
    ``id > 0`` (every object is portrait) and colour masks as their
    largest channel / 255. 16-bit PNGs are accepted while their values fit
    in 0..255.

    Args:
        path (str): Mask file.

    Returns:
        np.ndarray: ``(H, W)`` float32 with values in [0, 1].

    Raises:
        FileNotFoundError / ValueError: naming the file, when it is missing,
        empty, truncated, not a decodable image, or holds values that
        cannot be a mask (above 255, or not unsigned integers).
    """
    mask, is_ids = _decode_mask(path)
    if is_ids:
        return (mask > 0).astype(np.float32)
    if mask.dtype.kind != 'u':
        raise ValueError(f'{path}: unsupported mask pixel type {mask.dtype}; '
                         'expected 8-bit (0..255) or 0/1 masks')
    peak = int(mask.max()) if mask.size else 0
    if peak > 255:
        raise ValueError(f'{path}: mask value {peak} is above 255 '
                         f'({mask.dtype} image); expected 8-bit (0..255) or '
                         '0/1 masks')
    soft = mask.astype(np.float32)
    # 0/1 masks are already in [0, 1]; everything else is 0..255
    return soft if peak <= 1 else soft / 255
