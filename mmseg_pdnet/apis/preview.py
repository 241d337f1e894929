# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""A live preview window (OpenCV HighGUI) of the composited frames."""
import os
import re
import socket
import sys
from typing import Optional

import cv2
import numpy as np

from .compositing import put_title

#: keys that close the preview: q and Esc
STOP_KEYS = (ord('q'), ord('Q'), 27)


def gui_backend() -> Optional[str]:
    """OpenCV's window backend (``'QT5'``, ``'GTK3'``, ``'WIN32UI'``, ...),
    or None for a build without one (``opencv-python-headless``)."""
    match = re.search(r'^\s*GUI:\s*(\S+)', cv2.getBuildInformation(),
                      re.MULTILINE)
    if match is None or match.group(1).upper() == 'NONE':
        return None
    return match.group(1)


def _x_server_reachable(display: str) -> bool:
    """Whether an X server answers at ``display`` (``:0``, ``host:10.0``).

    Checked before the first window: a HighGUI backend that cannot
    connect aborts the whole process instead of raising.
    """
    match = re.fullmatch(r'(?:unix)?(.*):(\d+)(?:\.\d+)?', display)
    if match is None:
        return False
    host, number = match.group(1), int(match.group(2))
    if host in ('', 'unix'):
        path = f'/tmp/.X11-unix/X{number}'
        # Linux servers also listen on the abstract socket of that name
        for address in (path, '\0' + path):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                try:
                    s.connect(address)
                    return True
                except OSError:
                    continue
        return False
    try:  # ssh -X forwards e.g. localhost:10 to TCP port 6010
        with socket.create_connection((host, 6000 + number), timeout=1.0):
            return True
    except OSError:
        return False


def display_unavailable(environ=None) -> Optional[str]:
    """Why no preview window can open here, or None when one can.

    Args:
        environ (dict, optional): The environment; defaults to
            ``os.environ``.

    Returns:
        str | None: One line, e.g. ``'no display: DISPLAY is not set
        (...)'``.
    """
    environ = os.environ if environ is None else environ
    if gui_backend() is None:
        return (f'this OpenCV {cv2.__version__} is built without windows '
                '(opencv-python-headless?); pip install opencv-python')
    if sys.platform.startswith('linux'):
        display = environ.get('DISPLAY')
        if display:
            if not _x_server_reachable(display):
                return (f'no display: no X server answers at DISPLAY='
                        f'{display}')
        elif not environ.get('WAYLAND_DISPLAY'):
            return ('no display: DISPLAY is not set (run it on a desktop, '
                    'over ssh -X, or under xvfb-run)')
    return None


def checkerboard(size, square: int = 16) -> np.ndarray:
    """A grey ``(H, W, 3)`` checkerboard, the usual backdrop of
    transparency."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    light = ((yy // square + xx // square) % 2).astype(bool)
    board = np.full((h, w, 3), 102, np.uint8)
    board[light] = 153
    return board


def preview_frame(frame: np.ndarray, fps: float,
                  name: Optional[str] = None) -> np.ndarray:
    """The image the preview shows: ``frame`` with its frames/s (and the
    clip's name) drawn in the top-left corner.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8
            output frame (transparency is shown over a checkerboard).
        fps (float): Frames per second so far.
        name (str, optional): The clip, in many-input runs.

    Returns:
        np.ndarray: A new ``(H, W, 3)`` uint8 image (``frame`` is left as
        it is: it is also written).
    """
    if frame.ndim == 3 and frame.shape[2] == 4:
        a = frame[..., 3:].astype(np.float32) / 255
        frame = (frame[..., :3] * a + checkerboard(frame.shape[:2]) *
                 (1 - a)).round().astype(np.uint8)
    text = f'{fps:.1f} frames/s' + (f'  {name}' if name else '')
    return put_title(frame, text)


class PreviewWindow:
    """A window showing frames as they are written; q or Esc (or closing
    the window) asks to stop.

    Call from the main thread only (Cocoa and Qt own their windows
    there). Check :func:`display_unavailable` first: without a display,
    some backends end the process.

    Args:
        title (str): The window title. Defaults to ``'PDNet preview'``.
    """

    def __init__(self, title: str = 'PDNet preview'):
        self.title = title
        self._open = False

    def show(self, image: np.ndarray) -> bool:
        """Show one image (e.g. from :func:`preview_frame`).

        Returns:
            bool: False when the user asked to stop (q, Esc, or the window
            was closed), else True.
        """
        if self._open and cv2.getWindowProperty(
                self.title, cv2.WND_PROP_VISIBLE) < 1:
            return False  # closed with the mouse
        cv2.imshow(self.title, image)
        self._open = True
        key = cv2.waitKey(1)
        return key < 0 or (key & 0xFF) not in STOP_KEYS

    def close(self) -> None:
        """Close the window (if it was opened)."""
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # lets the backend process the close
            self._open = False
