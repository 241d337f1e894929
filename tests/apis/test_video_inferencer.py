import re

import cv2
import numpy as np
import pytest
import torch

from mmseg_pdnet.apis import (VideoPortraitInferencer, colour_parts,
                              open_source, parse_background,
                              replace_background)
from mmseg_pdnet.utils import CheckpointError


def frames(n=4, h=48, w=80, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope='module')
def inferencer(tiny_model_files):
    cfg, ckpt = tiny_model_files
    return VideoPortraitInferencer(cfg, ckpt, device='cpu')


def test_streams_masks_at_frame_size(inferencer):
    assert inferencer.input_size == (64, 64)
    results = list(inferencer(frames(), return_parts=True))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.new_reference for r in results] == [True, False, False, False]
    r = results[1]
    assert r.mask.shape == (48, 80) and r.mask.dtype == np.uint8
    assert set(np.unique(r.mask)) <= {0, 1}
    assert r.prob.shape == (48, 80) and 0 <= r.prob.min() <= r.prob.max() <= 1
    assert r.parts.shape == (3, 4, 4)


def test_cached_reference_equals_paired_forward(inferencer):
    """The streaming path encodes the reference once; same probabilities."""
    clip = frames(3)
    model = inferencer.model
    ref = inferencer._to_tensor(clip[0])
    for res, frame in zip(inferencer(clip), clip):
        x = inferencer._to_tensor(frame)
        with torch.no_grad():
            paired = model._paired_forward(torch.cat([x, ref], 1))
        prob = paired['seg_logit'].sigmoid()[0, 0].numpy()
        prob = cv2.resize(prob, (80, 48), interpolation=cv2.INTER_LINEAR)
        assert np.abs(prob - res.prob).max() <= 1e-5


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_amp_and_channels_last_stay_within_tolerance(tiny_model_files,
                                                     inferencer, amp):
    """AMP moves the probabilities by less than docs/performance.md's 0.1;
    channels_last alone by float rounding only."""
    cfg, ckpt = tiny_model_files
    clip = frames(4)
    fp32 = [r.prob for r in inferencer(clip)]
    fast = VideoPortraitInferencer(cfg, ckpt, device='cpu', amp=amp,
                                   channels_last=True)
    assert fast.amp_dtype == {'bf16': torch.bfloat16,
                              'fp16': torch.float16}[amp]
    conv = fast.model.backbone.backbone.conv1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    dtypes = []
    conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    for res, ref in zip(fast(clip), fp32):
        assert res.prob.dtype == np.float32
        assert np.abs(res.prob - ref).max() < 0.1
    assert set(dtypes) == {fast.amp_dtype}  # autocast really ran
    layout_only = VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                          channels_last=True)
    for res, ref in zip(layout_only(clip), fp32):
        assert np.abs(res.prob - ref).max() <= 1e-5


def test_amp_option_is_checked(tiny_model_files):
    cfg, ckpt = tiny_model_files
    assert VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                   amp=True).amp_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="amp must be True, False, 'fp16'"):
        VideoPortraitInferencer(cfg, ckpt, device='cpu', amp='fp8')


def test_reference_encoded_once_unless_refreshed(inferencer, monkeypatch):
    calls = []
    original = inferencer.model.encode_reference
    monkeypatch.setattr(inferencer.model, 'encode_reference',
                        lambda x: calls.append(1) or original(x))
    list(inferencer(frames(6)))
    assert len(calls) == 1
    inferencer.refresh_every = 2
    try:
        flags = [r.new_reference for r in inferencer(frames(6))]
    finally:
        inferencer.refresh_every = None
    assert flags == [True, False, True, False, True, False]


def test_scene_cut_renews_the_reference(inferencer):
    dark = [np.full((48, 80, 3), 10, np.uint8)] * 3
    bright = [np.full((48, 80, 3), 240, np.uint8)] * 2
    inferencer.scene_cut_threshold = 30
    try:
        flags = [r.new_reference for r in inferencer(dark + bright)]
    finally:
        inferencer.scene_cut_threshold = None
    assert flags == [True, False, False, True, False]


def test_frame_size_change_is_an_error(inferencer):
    clip = frames(2) + frames(1, h=50)
    with pytest.raises(ValueError, match='frame 2: size'):
        list(inferencer(clip))


def test_grayscale_and_bgra_frames_work(inferencer):
    gray = np.full((48, 80), 128, np.uint8)
    bgra = np.full((48, 80, 4), 128, np.uint8)
    assert len(list(inferencer([gray, bgra]))) == 2
    with pytest.raises(ValueError, match='frame 0: expected uint8'):
        list(inferencer([np.zeros((48, 80, 3), np.float32)]))


def test_real_footage_is_read_frame_by_frame(carphone):
    it, total, fps = open_source(carphone)
    first = next(it)
    assert total == 120 and first.shape == (144, 176, 3)
    assert fps == pytest.approx(29.97, abs=0.01)
    assert 1 + sum(1 for _ in it) == 120


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.mp4: video does not'):
        open_source(str(tmp_path / 'missing.mp4'))
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'not a video')
    with pytest.raises(ValueError, match='junk.mp4'):
        it, _, _ = open_source(str(junk))
        list(it)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='holds no image frame'):
        open_source(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='camera 99: could not be opened'):
        open_source(99)


def test_checkpoint_that_does_not_match_the_config(tiny_model_files,
                                                   tmp_path):
    cfg, ckpt = tiny_model_files
    state = torch.load(ckpt)['state_dict']
    state['decode_head.conv_seg.weight'] = torch.zeros(1, 128, 1, 1)
    del state['neck.saliency.bias']
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    with pytest.raises(CheckpointError, match=(
            rf'^{re.escape(str(bad))}: checkpoint does not match '
            rf'{re.escape(cfg)}: 1 missing '
            r'\(e.g. neck.saliency.bias\), 1 shape-mismatched \(e.g. '
            r'decode_head.conv_seg.weight: \(1, 128, 1, 1\) in the '
            r'checkpoint, \(1, 128, 3, 3\) in the model\)$')):
        VideoPortraitInferencer(cfg, str(bad), device='cpu')
    # on purpose: the weights that fit are loaded
    partial = VideoPortraitInferencer(cfg, str(bad), device='cpu',
                                      strict=False)
    assert torch.equal(partial.model.neck.saliency.weight,
                       state['neck.saliency.weight'])
    with pytest.raises(CheckpointError, match='nope.pth: checkpoint does '
                       'not exist'):
        VideoPortraitInferencer(cfg, str(tmp_path / 'nope.pth'))


def test_checkpoint_that_would_run_code_is_refused(tiny_model_files,
                                                   tmp_path):
    """The inferencer reads through the package's allow-listing loader."""
    from tests.utils.test_checkpoint import _SystemCall
    cfg, ckpt = tiny_model_files
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': torch.load(ckpt)['state_dict'],
                'meta': _SystemCall(marker)}, evil)
    with pytest.raises(CheckpointError, match=(
            rf'^{re.escape(str(evil))}: refused: it would run code when '
            r'unpickled \(')):
        VideoPortraitInferencer(cfg, str(evil), device='cpu')
    assert not marker.exists()


def test_compositing():
    frame = np.full((4, 6, 3), 200, np.uint8)
    alpha = np.zeros((4, 6), np.float32)
    alpha[:, :3] = 1
    out = replace_background(frame, alpha, parse_background('#0000FF'))
    assert (out[:, :3] == 200).all() and (out[:, 3:] == [255, 0, 0]).all()
    with pytest.raises(ValueError, match='expected #RRGGBB'):
        parse_background('#12')
    with pytest.raises(FileNotFoundError, match='nope.png'):
        parse_background('nope.png')
    parts = np.zeros((2, 2, 3), np.float32)
    parts[1] = 1.0
    coloured = colour_parts(parts, (4, 6))
    assert coloured.shape == (4, 6, 3) and (coloured == coloured[0, 0]).all()
