"""Hand-worked checks of J, boundary F and the sequence statistics
(DAVIS / MVPS semantics, docs/evaluation.md)."""
import math

import cv2
import numpy as np
import pytest

from mmseg_pdnet.evaluation.metrics.jf_core import (
    boundary_map, boundary_tolerance, contour_accuracy, decay_bin_ids, dilate,
    disk, region_similarity, sequence_statistics)


def square(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def pixel(h, w, y, x):
    return square(h, w, y, y + 1, x, x + 1)


# ----------------------------------------------------------------- J


def test_region_similarity_edge_cases():
    empty = np.zeros((5, 7), bool)
    full = np.ones((5, 7), bool)
    one = pixel(5, 7, 2, 3)
    assert region_similarity(empty, empty) == 1.0  # both empty
    assert region_similarity(empty, one) == 0.0  # empty prediction
    assert region_similarity(one, empty) == 0.0  # empty ground truth
    assert region_similarity(full, full) == 1.0  # full frame
    assert region_similarity(full, one) == pytest.approx(1 / 35)
    assert region_similarity(one, one) == 1.0  # one-pixel masks
    assert region_similarity(pixel(5, 7, 2, 4), one) == 0.0
    # 2x3 vs 3x3 sharing 2x3: 6 / 9
    assert region_similarity(square(5, 7, 0, 2, 0, 3),
                             square(5, 7, 0, 3, 0, 3)) == pytest.approx(6 / 9)
    # any nonzero value is foreground (palette ids)
    assert region_similarity(one.astype(np.uint8) * 7, one) == 1.0


# ----------------------------------------------------- boundary map


def test_boundary_map_hand_drawn_square():
    m = np.zeros((4, 5), bool)
    m[1:3, 1:4] = True
    expected = np.array([
        [1, 1, 1, 1, 0],  # above / above-left: differ from S or SE
        [1, 0, 0, 1, 0],  # left of the object (E differs); its last column
        [1, 1, 1, 1, 0],  # its bottom row (S differs)
        [0, 0, 0, 0, 0],  # last row: east only, all background
    ], bool)
    assert np.array_equal(boundary_map(m), expected)


def test_boundary_map_one_pixel_is_a_2x2_block():
    b = boundary_map(pixel(5, 6, 2, 3))
    assert np.array_equal(np.argwhere(b), [[1, 2], [1, 3], [2, 2], [2, 3]])


def test_boundary_map_border_rules():
    assert not boundary_map(np.ones((3, 4), bool)).any()  # full frame
    assert not boundary_map(np.zeros((3, 4), bool)).any()  # empty
    # pixel in the last column: compared with its south neighbour only
    b = boundary_map(pixel(3, 4, 0, 3))
    assert np.array_equal(np.argwhere(b), [[0, 2], [0, 3]])
    # pixel in the last row: compared with its east neighbour only
    b = boundary_map(pixel(3, 4, 2, 0))
    assert np.array_equal(np.argwhere(b), [[1, 0], [2, 0]])
    # bottom-right pixel: itself never a boundary, its W/N/NW neighbours are
    b = boundary_map(pixel(3, 4, 2, 3))
    assert np.array_equal(np.argwhere(b), [[1, 2], [1, 3], [2, 2]])
    # a mask filling the right half: the split line is a boundary, the
    # image border is not
    b = boundary_map(square(3, 4, 0, 3, 2, 4))
    assert np.array_equal(np.argwhere(b), [[0, 1], [1, 1], [2, 1]])


# ------------------------------------------------- tolerance / disk


def test_boundary_tolerance():
    assert boundary_tolerance(480, 480) == 6  # ceil(5.43)
    assert boundary_tolerance(480, 854) == 8  # ceil(7.84)
    assert boundary_tolerance(20, 20) == 1
    assert boundary_tolerance(100, 100) == 2


def test_disk_is_exact():
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert disk(2).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0],
                                [1, 1, 1, 1, 1], [0, 1, 1, 1, 0],
                                [0, 0, 1, 0, 0]]
    # lattice points with x^2 + y^2 <= r^2 (Gauss circle numbers)
    assert disk(6).sum() == 113
    assert disk(8).sum() == 197


def test_dilate_with_disk_matches_euclidean_distance():
    rng = np.random.default_rng(0)
    bmap = rng.random((41, 37)) > 0.98
    pts = np.argwhere(bmap)
    yy, xx = np.mgrid[:41, :37]
    d2 = ((yy[..., None] - pts[:, 0])**2 +
          (xx[..., None] - pts[:, 1])**2).min(-1)
    for r in (1, 2, 6, 8):
        assert np.array_equal(dilate(bmap, r), d2 <= r * r)


# ----------------------------------------------------------------- F


def test_contour_accuracy_empty_and_full_cases():
    empty = np.zeros((20, 20), bool)
    full = np.ones((20, 20), bool)
    sq = square(20, 20, 5, 15, 5, 15)
    assert contour_accuracy(empty, empty) == 1.0  # both empty: P = R = 1
    assert contour_accuracy(empty, sq) == 0.0  # Sb empty: P=1, R=0
    assert contour_accuracy(sq, empty) == 0.0  # Gb empty: P=0, R=1
    assert contour_accuracy(full, full) == 1.0  # no boundary in either
    assert contour_accuracy(full, sq) == 0.0  # full frame has no boundary
    assert contour_accuracy(sq, sq) == 1.0


def test_contour_accuracy_one_pixel_masks_hand_worked():
    # 20x20: r = 1, the disk is a cross. A pixel's boundary is the 2x2
    # block ending at it.
    gt = pixel(20, 20, 10, 10)  # Gb rows 9-10, cols 9-10
    assert contour_accuracy(gt, gt) == 1.0
    # 2 px to the right: Pb cols 11-12; dil(Gb) reaches col 11 -> P = 2/4,
    # symmetric R = 2/4, F = 0.5
    assert contour_accuracy(pixel(20, 20, 10, 12), gt) == pytest.approx(0.5)
    # 3 px to the right: nothing within 1 px -> F = 0
    assert contour_accuracy(pixel(20, 20, 10, 13), gt) == 0.0
    # 1 px diagonally: Pb (10..11, 10..11); (11, 11) is sqrt(2) > 1 from
    # Gb, the other three are within 1 -> P = R = 3/4
    assert contour_accuracy(pixel(20, 20, 11, 11), gt) == pytest.approx(0.75)
    # at 100x100, r = 2 >= sqrt(2): the diagonal shift is perfect
    assert contour_accuracy(pixel(100, 100, 51, 51),
                            pixel(100, 100, 50, 50)) == 1.0


def test_contour_accuracy_unequal_precision_recall_hand_worked():
    # 20x20 (r = 1). GT: one pixel at (10, 10), Gb = 4 px. Prediction: a
    # 1x3 bar at row 10, cols 10..12: Pb = rows 9-10, cols 9-12 = 8 px.
    # dil(Gb) covers cols 8..11 of rows 9-10 -> 6 of 8 Pb (P = 3/4); every
    # Gb pixel is on Pb (R = 1). F = 2 * 0.75 / 1.75 = 6/7.
    pred = square(20, 20, 10, 11, 10, 13)
    assert contour_accuracy(pred, pixel(20, 20, 10, 10)) == \
        pytest.approx(6 / 7)
    # swapped roles: P = 1, R = 3/4
    assert contour_accuracy(pixel(20, 20, 10, 10), pred) == \
        pytest.approx(6 / 7)


def test_odd_sizes():
    # 33x17: r = ceil(0.008 * 37.1) = 1
    gt = square(33, 17, 3, 30, 2, 15)
    assert region_similarity(square(33, 17, 4, 30, 2, 14), gt) == \
        pytest.approx(26 * 12 / (27 * 13))
    assert contour_accuracy(square(33, 17, 3, 30, 2, 16), gt) == 1.0
    assert contour_accuracy(square(33, 17, 3, 30, 2, 17), gt) < 1.0
    with pytest.raises(ValueError, match='same size'):
        contour_accuracy(gt, gt[:, :-1])
    with pytest.raises(ValueError, match='same size'):
        region_similarity(gt, gt[:-1])


# ------------------------------------------------ sequence statistics


@pytest.mark.parametrize('n, ids', [
    (1, [0, 0, 0, 0, 0]),
    (2, [0, 0, 1, 1, 1]),
    (3, [0, 1, 1, 2, 2]),
    (10, [0, 2, 5, 7, 9]),
    (100, [0, 25, 50, 74, 99]),  # 50.5 rounds up thanks to the 1e-10
    (300, [0, 75, 150, 224, 299]),
])
def test_decay_bin_ids(n, ids):
    assert decay_bin_ids(n).tolist() == ids


def test_public_toolkit_uint8_ids_break_at_257_frames():
    wrapped = decay_bin_ids(300).astype(np.uint8)
    assert wrapped.tolist() == [0, 75, 150, 224, 43]  # 299 % 256
    assert decay_bin_ids(256).astype(np.uint8)[-1] == 255  # still fine
    assert decay_bin_ids(257).astype(np.uint8)[-1] == 0  # wraps


@pytest.mark.parametrize('n, mean, recall, decay', [
    # x_t = t / (n - 1) descending from 1 to 0 (x = [0.7] for n = 1)
    (1, 0.7, 1.0, 0.0),  # every bin is [0.7]
    (2, 0.5, 0.5, 1.0),  # bins [1], [1, 0], [0], [0]
    (3, 0.5, 1 / 3, 0.75),  # bins [1, .5], [.5], [.5, 0], [0]: 0.75 - 0
    # n = 10: bins [0:3] and [7:10]: mean(1, 8/9, 7/9) - mean(2/9, 1/9, 0)
    (10, 0.5, 0.5, 8 / 9 - 1 / 9),
    # n = 100: bins [0:26] and [74:100]: (99 - 12.5)/99 - 12.5/99
    (100, 0.5, 0.5, (99 - 25) / 99),
    # n = 300: bins [0:76] and [224:300]: (299 - 37.5)/299 - 37.5/299
    (300, 0.5, 0.5, (299 - 75) / 299),
])
def test_sequence_statistics_hand_worked(n, mean, recall, decay):
    x = np.linspace(1.0, 0.0, n) if n > 1 else np.array([0.7])
    stats = sequence_statistics(x)
    assert stats['mean'] == pytest.approx(mean)
    assert stats['recall'] == pytest.approx(recall)
    assert stats['decay'] == pytest.approx(decay)


def test_decay_of_a_long_sequence_that_drops_halfway():
    # 300 frames, J = 1 then 0: bins 0 and 3 are pure -> Decay = 1 (the
    # uint8 toolkit gets an empty last bin and NaN)
    x = np.r_[np.ones(150), np.zeros(150)]
    assert sequence_statistics(x)['decay'] == 1.0


def test_recall_is_strict_and_empty_is_nan():
    assert sequence_statistics([0.5, 0.5, 1.0])['recall'] == \
        pytest.approx(1 / 3)
    assert sequence_statistics([0.5000001])['recall'] == 1.0
    assert all(math.isnan(v) for v in sequence_statistics([]).values())


def test_contour_accuracy_equals_full_frame_formula_on_random_masks():
    """The cropped dilation against P and R written out on the full frame."""
    rng = np.random.default_rng(1)
    for h, w in ((37, 53), (120, 90), (481, 77)):
        for _ in range(3):
            gt = np.zeros((h, w), np.uint8)
            y, x = rng.integers(0, h), rng.integers(0, w)
            gt[max(0, y - h // 4):y + h // 4, max(0, x - w // 3):x + 5] = 1
            pred = gt.copy()
            pred[rng.random((h, w)) > 0.995] ^= 1  # speckles anywhere
            pb, gb = boundary_map(pred), boundary_map(gt)
            r = boundary_tolerance(h, w)
            k = disk(r)
            dil_g = cv2.dilate(gb.astype(np.uint8), k).astype(bool)
            dil_p = cv2.dilate(pb.astype(np.uint8), k).astype(bool)
            p = (pb & dil_g).sum() / pb.sum()
            rec = (gb & dil_p).sum() / gb.sum()
            f = 0.0 if p + rec == 0 else 2 * p * rec / (p + rec)
            assert contour_accuracy(pred, gt) == pytest.approx(f, abs=1e-12)
