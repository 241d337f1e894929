# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Strict image and mask reading: errors name the file and the problem."""
import io
import os.path as osp

import cv2
import numpy as np

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


def read_mask(path: str) -> np.ndarray:
    """Read a portrait mask as 0/1.

    Accepts 0/255 and 0/1 PNGs and DAVIS palette PNGs: any value > 0 (any
    object id) is portrait foreground. Colour masks count a pixel as
    foreground when any channel is > 0.

    Args:
        path (str): Mask file.

    Returns:
        np.ndarray: ``(H, W)`` uint8 with values 0 and 1.
    """
    data = _read_bytes(path)
    _check_complete(path, data)
    if data[:8] == b'\x89PNG\r\n\x1a\n' and data[25] == 3:
        # palette PNG (DAVIS): OpenCV would expand the palette to colours,
        # so read the object ids themselves
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            return (np.asarray(img) > 0).astype(np.uint8)
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f'{path}: not a readable mask image')
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    return (mask > 0).astype(np.uint8)
