import math

import cv2
import numpy as np
import pytest

from mmseg_pdnet.evaluation.metrics.jf_core import (
    _within, boundary_map, boundary_tolerance, contour_accuracy, disk,
    error_map, region_similarity, sequence_statistics, temporal_instability)


def square(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_region_similarity_edge_cases():
    empty = np.zeros((5, 7), bool)
    full = np.ones((5, 7), bool)
    one = square(5, 7, 2, 3, 3, 4)
    assert region_similarity(empty, empty) == 1.0  # both empty
    assert region_similarity(empty, one) == 0.0  # empty prediction
    assert region_similarity(one, empty) == 0.0  # empty ground truth
    assert region_similarity(full, full) == 1.0
    assert region_similarity(full, one) == pytest.approx(1 / 35)
    assert region_similarity(one, one) == 1.0  # one-pixel masks
    # any nonzero value is foreground
    assert region_similarity(one.astype(np.uint8) * 7, one) == 1.0


def test_boundary_map_hand_worked():
    m = np.zeros((4, 5), bool)
    m[1:3, 1:4] = True
    expected = np.array([
        [1, 1, 1, 1, 0],   # differ from the south/south-east neighbour
        [1, 0, 0, 1, 0],
        [1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0],
    ], bool)
    assert np.array_equal(boundary_map(m), expected)


def test_boundary_map_border_rules():
    full = np.ones((3, 4), bool)
    assert not boundary_map(full).any()  # the image border is no boundary
    # foreground in the last column: only the south neighbour counts
    m = np.zeros((3, 4), bool)
    m[0, 3] = True
    b = boundary_map(m)
    assert b[0, 3] and b[0, 2] and b.sum() == 2
    # foreground in the last row: only the east neighbour counts
    m = np.zeros((3, 4), bool)
    m[2, 0] = True
    b = boundary_map(m)
    assert b[2, 0] and b[1, 0] and b.sum() == 2


def test_boundary_tolerance_and_disk():
    assert boundary_tolerance(480, 480) == 6
    assert boundary_tolerance(480, 854) == 8
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert disk(6).sum() == 113  # lattice points with x^2 + y^2 <= 36


@pytest.mark.parametrize('radius', [1, 2, 6, 8])
def test_distance_test_equals_disk_dilation(radius):
    rng = np.random.default_rng(radius)
    bmap = rng.random((61, 47)) > 0.97
    dilated = cv2.dilate(bmap.astype(np.uint8), disk(radius)).astype(bool)
    assert np.array_equal(_within(bmap, radius), dilated)


def test_contour_accuracy_edge_cases():
    empty = np.zeros((20, 20), bool)
    sq = square(20, 20, 5, 15, 5, 15)
    assert contour_accuracy(empty, empty) == 1.0  # both empty: P=R=1
    assert contour_accuracy(empty, sq) == 0.0  # P=1, R=0
    assert contour_accuracy(sq, empty) == 0.0  # P=0, R=1
    assert contour_accuracy(sq, sq) == 1.0
    full = np.ones((20, 20), bool)
    assert contour_accuracy(full, full) == 1.0  # no boundary in either
    one = square(20, 20, 9, 10, 9, 10)
    assert contour_accuracy(one, one) == 1.0


def test_contour_accuracy_hand_worked_precision_recall():
    # 100x100: r = ceil(0.008 * 141.4) = 2. GT square boundary vs. a
    # prediction square shifted by 5 px: no boundary pixel within 2 px
    # except where the two outlines cross.
    gt = square(100, 100, 20, 60, 20, 60)
    pred = square(100, 100, 25, 65, 25, 65)
    pb, gb = boundary_map(pred), boundary_map(gt)
    dil_g = cv2.dilate(gb.astype(np.uint8), disk(2)).astype(bool)
    dil_p = cv2.dilate(pb.astype(np.uint8), disk(2)).astype(bool)
    p = (pb & dil_g).sum() / pb.sum()
    r = (gb & dil_p).sum() / gb.sum()
    assert contour_accuracy(pred, gt) == pytest.approx(2 * p * r / (p + r))
    # a shift within the tolerance is perfect
    near = square(100, 100, 21, 61, 21, 61)
    assert contour_accuracy(near, gt) == 1.0


def test_odd_sizes():
    gt = square(33, 17, 3, 30, 2, 15)
    pred = square(33, 17, 4, 30, 2, 14)
    assert 0 < region_similarity(pred, gt) < 1
    assert 0 < contour_accuracy(pred, gt) <= 1
    with pytest.raises(ValueError, match='differ in size'):
        contour_accuracy(pred, gt[:, :-1])


def reference_decay(x):
    """The public formula with int ids (its uint8 wraps for N >= 257)."""
    ids = np.round(np.linspace(1, len(x), 5) + 1e-10) - 1
    ids = ids.astype(int)
    bins = [x[ids[i]:ids[i + 1] + 1] for i in range(4)]
    return np.mean(bins[0]) - np.mean(bins[3])


@pytest.mark.parametrize('n', [1, 2, 3, 10, 100, 300])
def test_sequence_statistics(n):
    x = np.linspace(1.0, 0.0, n) if n > 1 else np.array([0.7])
    stats = sequence_statistics(x)
    assert stats['mean'] == pytest.approx(x.mean())
    assert stats['recall'] == pytest.approx(np.mean(x > 0.5))
    assert stats['decay'] == pytest.approx(reference_decay(x))


def test_decay_hand_worked_and_long_sequences():
    # N = 10: ids = [0, 2, 5, 7, 9] -> bins [0:3] and [7:10]
    x = np.arange(10, dtype=float)
    assert sequence_statistics(x)['decay'] == pytest.approx(1 - 8)
    # N = 300 with uint8 ids would wrap (ids 299 -> 43): ours does not
    x = np.r_[np.ones(150), np.zeros(150)]
    assert sequence_statistics(x)['decay'] == pytest.approx(1.0)
    ids = (np.round(np.linspace(1, 300, 5) + 1e-10) - 1).astype(np.uint8)
    assert ids[-1] != 299  # the public toolkit's bug this avoids


def test_recall_is_strict():
    assert sequence_statistics([0.5, 0.5, 1.0])['recall'] == \
        pytest.approx(1 / 3)
    assert math.isnan(sequence_statistics([])['mean'])


def test_temporal_instability():
    gt = [square(10, 10, 2, 6, 2, 6), square(10, 10, 2, 6, 3, 7)]
    area = [16, 16]
    perfect = [error_map(g, g) for g in gt]
    assert temporal_instability(perfect, area) == 0.0
    # a prediction that does not move: misses the 8 changed pixels
    still = [error_map(gt[0], g) for g in gt]
    assert temporal_instability(still, area) == pytest.approx(8 / 16)
    # flicker on a static ground truth
    flick = [error_map(gt[0], gt[0]), error_map(np.zeros((10, 10)), gt[0])]
    assert temporal_instability(flick, [16, 16]) == pytest.approx(1.0)
    assert math.isnan(temporal_instability(perfect[:1], area[:1]))
