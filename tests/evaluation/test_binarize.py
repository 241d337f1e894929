import numpy as np
import pytest

from mmseg_pdnet.evaluation import (binarize_probability, check_threshold,
                                    describe_threshold, quantize_probability,
                                    threshold_name)

EDGE = 1 / 510  # round(255 * EDGE) = round(0.5) = 0 (half to even)


def oracle(p, threshold):
    """Plain-Python rules of docs/evaluation.md, one pixel at a time."""
    if threshold == 'authors':  # Python's round() is half to even too
        return round(float(p * p.dtype.type(255))) >= 1
    return float(p) >= threshold


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_rules_at_the_edges(dtype):
    values = [0.0, EDGE - 1e-6, EDGE, EDGE + 1e-6, 0.49, 0.5 - 1e-6, 0.5,
              0.5 + 1e-6, 1.0]
    p = np.array([values], dtype)
    authors = binarize_probability(p, 'authors')
    davis = binarize_probability(p, 0.5)
    assert authors.dtype == bool and authors.shape == (1, 9)
    # specified: p = 1/510 rounds to 0; anything above it is foreground
    assert authors[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert davis[0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert binarize_probability(p)[0].tolist() == davis[0].tolist()
    for rule, got in (('authors', authors), (0.5, davis)):
        assert got[0].tolist() == [oracle(v, rule) for v in p[0]]
    # the neighbours of 1/510 in this precision
    edge = dtype(EDGE)
    near = np.array([np.nextafter(edge, dtype(0)), edge,
                     np.nextafter(edge, dtype(1))])
    assert binarize_probability(near, 'authors').tolist() == [0, 0, 1]


def test_other_thresholds_and_uint8_levels():
    p = np.array([0.1, 0.29, 0.3, 0.31, 0.9], np.float32)
    assert binarize_probability(p, 0.3).tolist() == [0, 0, 1, 1, 1]
    levels = np.array([0, 1, 2, 127, 128, 255], np.uint8)
    assert binarize_probability(levels, 'authors').tolist() == [
        0, 1, 1, 1, 1, 1]  # any non-zero pixel, as MVPS evaluation
    assert binarize_probability(levels, 0.5).tolist() == [0, 0, 0, 0, 1, 1]
    # the uint8 rules are the float rules of the quantised probability
    rng = np.random.default_rng(0)
    probs = np.concatenate([rng.random(2000, np.float32),
                            np.linspace(0, 0.01, 500, dtype=np.float32)])
    q = quantize_probability(probs)
    np.testing.assert_array_equal(binarize_probability(q, 'authors'),
                                  binarize_probability(probs, 'authors'))


def test_quantize_rounds_half_to_even_in_float32():
    # 255 p is exactly k + 0.5 in float32 for these p (checked below)
    p = np.array([EDGE, 3 / 510, 5 / 510, 255 / 510, 0.1, 0.9, -0.2, 1.3],
                 np.float32)
    products = p[:4] * np.float32(255)
    assert products.tolist() == [0.5, 1.5, 2.5, 127.5]
    q = quantize_probability(p)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 2, 2, 128, 26, 230, 0, 255]
    assert q.tolist() == [round(float(np.float32(min(max(v, 0), 1)) *
                                      np.float32(255))) for v in p]
    with pytest.raises(ValueError, match='floating-point'):
        quantize_probability(np.zeros(2, np.uint8))


def test_threshold_names_and_errors():
    assert check_threshold(0.5) == 0.5 and check_threshold('authors')
    assert threshold_name(0.5) == 'th0.5' and threshold_name(0.25) == 'th0.25'
    assert threshold_name('authors') == 'authors'
    assert describe_threshold(0.5) == 'p >= 0.5 (DAVIS-style)'
    assert 'p > 1/510' in describe_threshold('authors')
    for bad in (0, 1, 1.5, -0.1, 'davis', True, None, '0.5'):
        with pytest.raises(ValueError, match='threshold must be a float'):
            check_threshold(bad)
    with pytest.raises(ValueError, match='uint8'):
        binarize_probability(np.zeros(2, np.int64), 0.5)
