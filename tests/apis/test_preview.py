"""The preview window: what is drawn, and when no window can open."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from mmseg_pdnet.apis import preview
from mmseg_pdnet.apis.preview import display_unavailable, preview_frame
from tests.helpers import ROOT


def test_preview_frame_draws_the_rate_in_the_corner():
    frame = np.full((120, 200, 3), 90, np.uint8)
    out = preview_frame(frame, 12.34)
    assert out.shape == frame.shape and (frame == 90).all()  # not drawn on
    changed = np.argwhere((out != frame).any(-1))
    assert len(changed) > 50  # the label is there ...
    top, left = changed.min(0)
    bottom, right = changed.max(0)
    assert top == 0 and left == 0 and bottom < 40 and right < 150
    # ... and nowhere else
    assert (out[40:] == frame[40:]).all()
    # a longer label (the clip's name too) is wider
    named = preview_frame(frame, 12.34, name='clips/a.mp4')
    assert np.argwhere((named != frame).any(-1))[:, 1].max() > right


def test_transparent_frames_are_shown_over_a_checkerboard():
    bgra = np.zeros((64, 64, 4), np.uint8)
    bgra[..., 2] = 255  # red ...
    bgra[:, 32:, 3] = 255  # ... opaque on the right half only
    out = preview_frame(bgra, 1.0)
    assert out.shape == (64, 64, 3)
    assert (out[40:, 32:] == (0, 0, 255)).all()
    left = out[40:, :32]
    assert set(np.unique(left)) == {102, 153}  # the board shows through


def test_no_display_is_one_line(monkeypatch):
    if not preview.sys.platform.startswith('linux'):
        pytest.skip('DISPLAY matters on Linux only')
    monkeypatch.setattr(preview, 'gui_backend', lambda: 'QT5')
    assert display_unavailable({}) == (
        'no display: DISPLAY is not set (run it on a desktop, over ssh -X, '
        'or under xvfb-run)')
    # a display that nothing serves (a HighGUI backend would abort)
    assert display_unavailable({'DISPLAY': ':987'}) == (
        'no display: no X server answers at DISPLAY=:987')
    monkeypatch.setattr(preview, 'gui_backend', lambda: None)
    assert 'is built without windows (opencv-python-headless?)' in \
        display_unavailable({'DISPLAY': ':0'})


def test_gui_backend_reads_the_build(monkeypatch):
    info = '  Video I/O:\n  GUI:                           {}\n    QT: YES\n'
    monkeypatch.setattr(preview.cv2, 'getBuildInformation',
                        lambda: info.format('QT5'))
    assert preview.gui_backend() == 'QT5'
    monkeypatch.setattr(preview.cv2, 'getBuildInformation',
                        lambda: info.format('NONE'))
    assert preview.gui_backend() is None


@pytest.fixture
def xvfb(tmp_path):
    """A virtual X display (Debian package xvfb), or skip."""
    binary = shutil.which('Xvfb')
    if binary is None:
        pytest.skip('Xvfb is not installed (apt install xvfb)')
    if preview.gui_backend() is None:
        pytest.skip('OpenCV without window support')
    for number in range(90, 110):  # a free display number
        if not os.path.exists(f'/tmp/.X11-unix/X{number}') and \
                not os.path.exists(f'/tmp/.X{number}-lock'):
            break
    proc = subprocess.Popen([binary, f':{number}', '-screen', '0',
                             '640x480x24', '-nolisten', 'tcp'],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    display = f':{number}'
    try:
        for _ in range(200):  # until the server answers (at most ~20 s)
            if preview._x_server_reachable(display) or proc.poll() is not \
                    None:
                break
            time.sleep(0.1)
        if not preview._x_server_reachable(display):
            pytest.skip('Xvfb did not start')
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


WINDOW_SCRIPT = """
import numpy as np
from mmseg_pdnet.apis.preview import (PreviewWindow, display_unavailable,
                                      preview_frame)
assert display_unavailable() is None
window = PreviewWindow('test preview')
for i in range(3):
    assert window.show(preview_frame(np.full((48, 64, 3), 40 * i, np.uint8),
                                     10.0))
window.close()
print('shown')
"""


def test_window_under_xvfb(xvfb):
    """A real window on a virtual display. In a process of its own: a Qt
    application stays bound to its X server, and ends the process when
    that server goes away."""
    env = dict(os.environ, DISPLAY=xvfb, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', WINDOW_SCRIPT], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'shown'
