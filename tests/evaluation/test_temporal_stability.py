import math

import numpy as np
import pytest

from mmseg_pdnet.evaluation.metrics.temporal_stability import (
    change_disagreement, pack_mask, temporal_stability, unpack_mask)


def square(y0, y1, x0, x1, h=10, w=10):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def stability(preds, gts, idx=None):
    idx = list(range(len(preds))) if idx is None else idx
    return temporal_stability(idx, [pack_mask(p) for p in preds],
                              [pack_mask(g) for g in gts])


@pytest.mark.parametrize('shape', [(1, 1), (7, 13), (480, 854)])
def test_pack_round_trip(shape):
    m = np.random.default_rng(0).random(shape) > 0.5
    packed = pack_mask(m)
    assert isinstance(packed[0], bytes)
    assert np.array_equal(unpack_mask(packed), m)


def test_change_disagreement_hand_worked():
    g0, g1 = square(2, 6, 2, 6), square(2, 6, 3, 7)  # moves 1 px right
    # prediction follows the ground truth exactly
    assert change_disagreement(g0, g1, g0, g1) == 0.0
    # an error that stays put (a false-positive patch) is no flicker
    patch = square(8, 10, 0, 2)
    assert change_disagreement(g0 | patch, g1 | patch, g0, g1) == 0.0
    # an error that moves with the object is: a prediction 1 px too low
    # differs from the GT change at (2, 2), (2, 6), (6, 2), (6, 6); the
    # last two are outside |g0 | g1| = 20 px -> 4 / 22
    p0, p1 = np.roll(g0, 1, axis=0), np.roll(g1, 1, axis=0)
    assert change_disagreement(p0, p1, g0, g1) == pytest.approx(4 / 22)
    # lag: prediction stays at g0; GT change = 8 px (4 left + 4 right
    # column) over |g0 | g1| = 4x5 = 20 px, i.e. 1 - IoU(g0, g1)
    assert change_disagreement(g0, g0, g0, g1) == pytest.approx(8 / 20)
    # a full-frame prediction lags just as much (no dilution by its size)
    full = np.ones((10, 10), bool)
    assert change_disagreement(full, full, g0, g1) == pytest.approx(8 / 20)
    # flicker on a still ground truth: the prediction vanishes
    assert change_disagreement(g0, np.zeros((10, 10), bool), g0, g0) == 1.0
    # everything empty: nothing changed
    z = np.zeros((10, 10), bool)
    assert change_disagreement(z, z, z, z) == 0.0
    # a one-pixel flicker on an empty ground truth: 1 / 1
    assert change_disagreement(z, square(0, 1, 0, 1), z, z) == 1.0
    with pytest.raises(ValueError, match='frame sizes change'):
        change_disagreement(g0, g1[:, :-1], g0, g1)


def test_sequence_stability():
    g = [square(2, 6, 2 + t, 6 + t) for t in range(4)]
    assert stability(g, g) == 1.0
    # a still prediction misses each 1-px move: 8 of |g_t-1 | g_t| = 20 px
    still = [g[0]] * 4
    expected = 1 - 8 / 20
    assert stability(still, g) == pytest.approx(expected)
    # flicker: the prediction vanishes in frame 2 of a moving portrait;
    # pairs (1, 2) and (2, 3) both disagree on g2 (16 of 20 px)
    flicker = [g[0], g[1], np.zeros_like(g[2]), g[3]]
    expected = 1 - (0 + 16 / 20 + 16 / 20) / 3
    assert stability(flicker, g) == pytest.approx(expected)
    # fewer than two frames: undefined
    assert math.isnan(stability(g[:1], g[:1]))
    # frames 0 and 2 are not consecutive: no pair, never bridged
    assert math.isnan(stability([g[0], g[0]], [g[0], g[2]], idx=[0, 2]))
