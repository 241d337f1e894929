"""The synthetic demo clips' design knobs (tools/make_demo_data.py)."""
import cv2
import numpy as np
import pytest

from mmseg_pdnet.datasets.synthetic import (design_record, make_demo_dataset,
                                            render_clip)

CLIP = dict(num_frames=6, height=72, width=128, occluder=False,
            subtitles=False)


def _clip(seed=3, **kwargs):
    frames = list(render_clip(seed, **dict(CLIP, **kwargs)))
    return (np.stack([f for f, _ in frames]), np.stack([m for _, m in frames]))


def test_posters_paint_the_background_but_are_not_portrait():
    images, masks = _clip()
    with_posters, poster_masks = _clip(posters=2)
    # the posters' draws come after every other draw of the clip: the same
    # moving figures, so the same masks, over a different background
    np.testing.assert_array_equal(poster_masks, masks)
    changed = np.abs(with_posters.astype(int) - images).sum(-1) > 0
    assert changed[masks == 0].mean() > 0.01
    # where a moving figure is drawn, it stays in front of the posters
    # (anti-aliased edges aside)
    inner = masks > 0
    assert changed[inner].mean() < 0.1


def test_posters_are_frozen_and_pan_with_the_background():
    images, masks = _clip(max_pan=0., posters=2)
    plain, _ = _clip(max_pan=0.)
    # never covered by a moving figure, anti-aliased edges included
    background = cv2.dilate((masks > 0).any(0).astype(np.uint8),
                            np.ones((5, 5), np.uint8)) == 0
    # a static camera: the background, posters included, never changes
    assert np.array_equal(images[0][background], images[-1][background])
    assert not np.array_equal(images[0][background], plain[0][background])


def test_passers_by_enter_after_the_reference_and_are_not_portrait():
    images, masks = _clip(num_frames=20)
    walked, walked_masks = _clip(num_frames=20, passers=2)
    np.testing.assert_array_equal(walked_masks, masks)
    # the first frame (the clip's reference) never shows a passer-by
    np.testing.assert_array_equal(walked[0], images[0])
    changed = np.abs(walked.astype(int) - images).sum(-1) > 0
    assert changed[1:][masks[1:] == 0].mean() > 0.01
    # they walk behind the portrait: its pixels stay as they were
    assert changed[masks > 0].mean() < 0.1


def test_figure_scale_and_count():
    areas = {}
    for name, scale in (('small', (0.15, 0.2)), ('large', (0.5, 0.6))):
        areas[name] = np.mean([
            (_clip(seed, figure_scale=scale, max_figures=1)[1] > 0).mean()
            for seed in range(4)])
    assert areas['large'] > 3 * areas['small']


def test_make_demo_dataset_passes_the_design_on(tmp_path):
    kwargs = dict(train_clips=1, test_clips=1, min_frames=3, max_frames=3,
                  height=48, width=64)
    make_demo_dataset(str(tmp_path / 'plain'), **kwargs)
    make_demo_dataset(str(tmp_path / 'posters'), posters=2, **kwargs)
    frame = 'Keyframes/480p/train_000/00000.jpg'
    mask = 'Annotations/480p/train_000/00000.png'
    assert (tmp_path / 'plain' / mask).read_bytes() == (
        tmp_path / 'posters' / mask).read_bytes()
    assert (tmp_path / 'plain' / frame).read_bytes() != (
        tmp_path / 'posters' / frame).read_bytes()


@pytest.mark.parametrize('kwargs, message', [
    (dict(max_figures=0), 'max_figures'),
    (dict(posters=-1), 'posters'),
    (dict(passers=-1), 'passers'),
    (dict(max_pan=-1.), 'max_pan'),
    (dict(figure_scale=(0.5, 0.2)), 'figure_scale'),
])
def test_bad_design_values_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_demo_dataset(str(tmp_path), train_clips=1, test_clips=1,
                          **kwargs)


def test_design_record_fills_defaults_and_refuses_unknown_names():
    record = design_record(posters=2, figure_scale=(0.3, 0.5))
    assert record['posters'] == 2 and record['figure_scale'] == [0.3, 0.5]
    assert record['seed'] == 0 and 'out_dir' not in record
    assert design_record() == design_record(seed=0)
    with pytest.raises(TypeError, match='poster'):
        design_record(poster=2)
