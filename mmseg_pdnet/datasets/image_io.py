# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Strict image and mask reading: errors name the file and the problem."""
import io
import os.path as osp

import cv2
import numpy as np

#: frame files the datasets and the video tools read (lower case)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
_JPEG_SUFFIXES = ('.jpg', '.jpeg')


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
        empty, truncated or not a decodable image.
    """
    data = _read_bytes(path)
    _check_complete(path, data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{path}: not a readable image')
    return img


def _decode_mask(path: str):
    """Decode a mask file.

    Returns:
        tuple[np.ndarray, bool]: the ``(H, W)`` mask (colour masks reduced
        to their largest channel) and whether it holds palette object ids.
    """
    data = _read_bytes(path)
    _check_complete(path, data)
    if data[:8] == b'\x89PNG\r\n\x1a\n' and data[25] == 3:
        # palette PNG (DAVIS): OpenCV would expand the palette to colours,
        # so read the object ids themselves
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img), True
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f'{path}: not a readable mask image')
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
