import copy
import re
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmcv.cnn import ConvModule
from mmcv.transforms import Compose
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg_pdnet.apis import (VideoPortraitInferencer, colour_parts,
                              open_source, parse_background,
                              replace_background)
from mmseg_pdnet.apis.guided_upsampling import GuidedUpsampler
from mmseg_pdnet.apis.temporal_filter import TemporalFilter
from mmseg_pdnet.models.utils import fuse_conv_bn
from mmseg_pdnet.utils import CheckpointError
from tests.helpers import DEMO_CONFIG, config_path


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


def _predict_pair(model, target, ref, ori_shape):
    """``PDNet.predict`` (the authors' protocol) on a normalised pair."""
    sample = SegDataSample(metainfo=dict(ori_shape=ori_shape,
                                         img_shape=target.shape[-2:]))
    with torch.no_grad():
        out = model.predict(torch.cat([target, ref], 1), [sample])[0]
    return out.seg_logits.data[0].numpy(), out.pred_sem_seg.data[0].numpy()


def test_cached_reference_equals_predict_on_the_pair(inferencer):
    """The streaming path encodes the reference once and resizes the
    stride-4 logits straight to the (non-square) frame size, as
    ``PDNet.predict`` on the paired input: same probabilities and masks."""
    clip = frames(3)  # 48x80 frames, 64x64 input
    ref = inferencer.preprocess(clip[0])
    for res, frame in zip(inferencer(clip), clip):
        prob, mask = _predict_pair(inferencer.model,
                                   inferencer.preprocess(frame), ref,
                                   (48, 80))
        assert res.prob.shape == prob.shape == (48, 80)
        assert np.abs(prob - res.prob).max() <= 1e-5
        sure = np.abs(prob - 0.5) > 1e-5  # rounding may flip ties only
        assert (res.mask[sure] == mask[sure]).all()


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


def randomise_bn(model, forward, seed=0):
    """Realistic BN layers: random affine weights, and running statistics
    measured in training mode by ``forward(model)``, as after training (a
    freshly built model has mean 0, var 1: folding it would change next to
    nothing, and arbitrary statistics blow the activations up)."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=gen))
            m.bias.copy_(0.1 * torch.randn(n, generator=gen))
            m.reset_running_stats()
            m.momentum = None  # running statistics = plain averages
        model.train()
        for _ in range(2):
            forward(model)
    for m in bns:
        m.momentum = 0.1
    return model.eval()


def calibrate_logits(model, inputs, scale=2.):
    """Scale the classifier so the logits of ``inputs`` reach +-scale: the
    probabilities are then neither flat at 0.5 nor saturated, and a
    comparison of them is sensitive to any difference of the inputs."""
    with torch.no_grad():
        logit = model(inputs, mode='tensor')
        factor = scale / logit.abs().max()
        model.decode_head.conv_seg.weight.mul_(factor)
        model.decode_head.conv_seg.bias.mul_(factor)
    return model


def write_clip(tmp_path, clip):
    """PNG files (lossless) of the frames and one empty 0/1 mask."""
    paths = []
    for i, frame in enumerate(clip):
        paths.append(str(tmp_path / f'{i:05d}.png'))
        cv2.imwrite(paths[-1], frame)
    mask = str(tmp_path / 'mask.png')
    cv2.imwrite(mask, np.zeros(clip[0].shape[:2], np.uint8))
    return paths, mask


def test_equals_test_step_of_the_demo_config(tmp_path):
    """Same probabilities as ``tools/test.py``'s path (the config's test
    pipeline, data preprocessor, ``PDNet.predict``) on the same frames
    and reference, at a non-square frame size; the unfolded model there,
    the BN-folded one in the inferencer. (The former OpenCV resize of the
    input-size probabilities differed by 0.04 here.)"""
    cfg_path = DEMO_CONFIG
    cfg = Config.fromfile(cfg_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    clip = frames(3, h=72, w=100)
    paths, mask = write_clip(tmp_path, clip)
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    data = [pipeline(dict(img_path=path, ref_img_paths=[paths[0]],
                          seg_map_path=mask)) for path in paths]
    calibrate_logits(model, model.data_preprocessor(
        dict(inputs=[data[1]['inputs']]))['inputs'])
    ckpt = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)

    inferencer = VideoPortraitInferencer(cfg_path, str(ckpt), device='cpu')
    assert inferencer.input_size == (128, 128)
    assert not any(isinstance(m, _BatchNorm)
                   for m in inferencer.model.modules())
    for res, pair in zip(inferencer(clip), data):
        with torch.no_grad():
            out = model.test_step(dict(inputs=[pair['inputs']],
                                       data_samples=[pair['data_samples']]))
        prob = out[0].seg_logits.data[0].numpy()
        assert prob.shape == res.prob.shape == (72, 100)
        assert np.abs(prob - res.prob).max() <= 1e-5


@pytest.mark.parametrize('config,size',
                         [('pdnet_r18_1xb4-6e_demo-128x128.py', 128),
                          ('pdnet_r50_2xb2-60e_mvps-480x480.py', 480)])
def test_preprocessing_is_the_config_test_pipeline(tmp_path, config, size):
    """The network input is the test pipeline's resize and the model's
    data preprocessor, bit for bit, for the shipped configs."""
    cfg_path = config_path(config)
    cfg = Config.fromfile(cfg_path)
    inferencer = VideoPortraitInferencer(cfg_path, device='cpu')
    assert inferencer.input_size == (size, size)
    frame = frames(1, h=72, w=100)[0]
    (path, ), mask = write_clip(tmp_path, [frame])
    data = Compose(cfg.test_dataloader.dataset.pipeline)(
        dict(img_path=path, ref_img_paths=[path], seg_map_path=mask))
    expected = inferencer.model.data_preprocessor(
        dict(inputs=[data['inputs']],
             data_samples=[data['data_samples']]))['inputs'][:, :3]
    x = inferencer.preprocess(frame)
    assert x.shape == (1, 3, size, size) and torch.equal(x, expected)


def test_input_size_must_be_known(tiny_model_files):
    cfg_path, ckpt = tiny_model_files
    cfg = Config.fromfile(cfg_path)
    cfg.test_dataloader.dataset.pipeline = [dict(type='LoadPairedImages')]
    with pytest.raises(ValueError, match=(
            rf'^{re.escape(cfg_path)} \(test_dataloader.dataset.pipeline\): '
            r'cannot tell the model input size: the steps do not resize '
            r'frames to a fixed size \(no PairedResize step\?\); add one to '
            r'the test pipeline or pass input_size=\(H, W\)$')):
        VideoPortraitInferencer(cfg, ckpt, device='cpu')
    explicit = VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                       input_size=(32, 64))
    assert explicit.input_size == (32, 64)
    assert explicit.preprocess(frames(1)[0]).shape == (1, 3, 32, 64)
    # input_size also overrides the pipeline's resize
    assert VideoPortraitInferencer(cfg_path, ckpt, device='cpu',
                                   input_size=(32, 64)).input_size == (32, 64)
    # a random flip would flip the masks of the stream
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadPairedImages'), dict(type='PairedRandomFlip'),
        dict(type='PairedResize', scale=64)]
    with pytest.raises(ValueError, match='step PairedRandomFlip is random'):
        VideoPortraitInferencer(cfg, ckpt, device='cpu')


def test_model_passed_as_a_module(tiny_model_files, inferencer):
    """A module has no config: the input size must be given. The caller's
    model keeps its BN layers (the inferencer folds a copy)."""
    cfg_path, ckpt = tiny_model_files
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(Config.fromfile(cfg_path).model)
    with pytest.raises(ValueError, match=r'pass input_size=\(H, W\)$'):
        VideoPortraitInferencer(model, ckpt, device='cpu')
    from_module = VideoPortraitInferencer(model, ckpt, device='cpu',
                                          input_size=(64, 64))
    assert isinstance(model.backbone.backbone.bn1, _BatchNorm)
    clip = frames(2)
    for res, ref in zip(from_module(clip), inferencer(clip)):
        assert np.abs(res.prob - ref.prob).max() <= 1e-5


def test_folding_pdnet_is_exact(tiny_model_files):
    """Every BN of PDNet is folded, each into the conv that feeds it: in
    float64, where rounding hides nothing, the folded model equals the
    unfolded one, with realistic BN statistics. (In float32 a randomly
    initialised PDNet amplifies rounding to ~1e-4 of its logits, folded or
    not: float64 is what tells a wrong fold from rounding.)"""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(Config.fromfile(tiny_model_files[0]).model)
    model.init_weights()
    randomise_bn(model, lambda m: m(torch.randn(2, 6, 64, 64),
                                    mode='tensor')).double()
    folded = fuse_conv_bn(copy.deepcopy(model))
    assert sum(isinstance(m, _BatchNorm) for m in model.modules()) > 20
    assert not any(isinstance(m, _BatchNorm) for m in folded.modules())
    x = torch.randn(1, 6, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x, mode='tensor')
        scale = expected.abs().max().item()
        torch.testing.assert_close(folded(x, mode='tensor'), expected,
                                   rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize('bias', [False, True])
def test_folding_a_conv_module(bias):
    """The folding of ``ConvModule`` conv + BN (the order of every
    ConvModule of PDNet) equals the unfolded module."""
    x = torch.randn(2, 4, 9, 7)
    with warnings.catch_warnings():  # "unnecessary conv bias": on purpose
        warnings.simplefilter('ignore')
        conv = ConvModule(4, 6, 3, padding=1, bias=bias,
                          norm_cfg=dict(type='BN'))
    randomise_bn(conv, lambda m: m(torch.randn(2, 4, 9, 7) * 3 + 1))
    with torch.no_grad():
        expected = conv(x)
        folded = fuse_conv_bn(copy.deepcopy(conv))
        assert isinstance(folded.bn, nn.Identity)
        torch.testing.assert_close(folded(x), expected, atol=1e-5, rtol=0)


def test_compile_needs_cuda(tiny_model_files):
    cfg, ckpt = tiny_model_files
    with pytest.raises(ValueError, match=(
            r"^compile=True replays CUDA graphs, which need a CUDA device; "
            r"got device 'cpu'$")):
        VideoPortraitInferencer(cfg, ckpt, device='cpu', compile=True)


def still_clip(n=5, h=48, w=80, seed=0):
    """A still scene with a couple of grey levels of noise (a camera on a
    tripod): the temporal filter smooths it."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (h, w, 3))
    return [np.clip(base + rng.integers(-2, 3, (h, w, 3)), 0, 255
                    ).astype(np.uint8) for _ in range(n)]


def test_guided_upsampling_in_the_stream(tiny_model_files, inferencer):
    """The probability at the input size, upsampled to the frame by the
    guided filter with the frame as guide; the single-frame API agrees."""
    cfg, ckpt = tiny_model_files
    guided = VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                     upsampling=dict(radius=1, eps=1e-2))
    assert isinstance(guided.upsampler, GuidedUpsampler)
    assert guided.upsampler.radius == 1
    clip = frames(3)  # 48x80 frames, 64x64 input
    cache = guided.encode_reference_frame(clip[0])
    bilinear = [r.prob for r in inferencer(clip)]
    for res, frame, plain in zip(guided(clip), clip, bilinear):
        x = guided._uploaded(frame)
        with torch.no_grad():
            low = guided._target_step(x, cache, (64, 64))['prob']
        assert low.shape == (1, 1, 64, 64)
        full = torch.from_numpy(frame).permute(2, 0, 1)[None]
        expected = GuidedUpsampler(1, 1e-2)(low, full)[0, 0].numpy()
        assert res.prob.shape == (48, 80) and res.prob.dtype == np.float32
        np.testing.assert_allclose(res.prob, expected, atol=1e-6)
        assert np.array_equal(res.mask, res.prob > guided.threshold)
        assert not np.allclose(res.prob, plain)
        np.testing.assert_allclose(
            guided.segment_with(frame, cache), res.prob, atol=1e-6)


def test_temporal_filter_in_the_stream(inferencer):
    """The filter's output on the unfiltered stream; the first frame
    passes as it is."""
    clip = still_clip()
    plain = [r.prob for r in inferencer(clip)]
    settings = TemporalFilter(momentum=0.8)
    by_hand = TemporalFilter(momentum=0.8)
    inferencer.temporal_filter = settings
    try:
        results = list(inferencer(clip))
    finally:
        inferencer.temporal_filter = None
    for res, prob, frame in zip(results, plain, clip):
        expected = by_hand(torch.from_numpy(prob)[None, None],
                           inferencer._uploaded(frame))[0, 0].numpy()
        np.testing.assert_allclose(res.prob, expected, atol=1e-6)
        assert np.array_equal(res.mask, res.prob > inferencer.threshold)
    assert np.array_equal(results[0].prob, plain[0])
    assert all(not np.allclose(r.prob, p)
               for r, p in zip(results[1:], plain[1:]))
    # the settings object holds no stream's state
    assert settings._state is None


@pytest.mark.parametrize('renew', ['refresh', 'scene-cut'])
def test_temporal_filter_restarts_with_the_reference(inferencer, renew):
    if renew == 'refresh':
        clip, option = still_clip(5), ('refresh_every', 2)
    else:
        dark, bright = still_clip(3), still_clip(2, seed=1)
        clip = [f // 8 for f in dark] + [255 - f // 8 for f in bright]
        option = ('scene_cut_threshold', 30)
    setattr(inferencer, *option)
    try:
        plain = list(inferencer(clip))
        inferencer.temporal_filter = TemporalFilter()
        smooth = list(inferencer(clip))
    finally:
        setattr(inferencer, option[0], None)
        inferencer.temporal_filter = None
    flags = []
    for res, ref in zip(smooth, plain):
        flags.append(res.new_reference)
        assert res.new_reference == ref.new_reference
        # a new reference: the filter starts again from the prediction
        assert np.array_equal(res.prob, ref.prob) == res.new_reference
    assert flags == ([True, False, True, False, True] if renew == 'refresh'
                     else [True, False, False, True, False])


def test_streams_keep_their_own_filter_state(inferencer):
    a, b = still_clip(3), still_clip(3, seed=2)
    inferencer.temporal_filter = TemporalFilter()
    try:
        alone = [r.prob for r in inferencer(a)]
        ia, ib = inferencer(a), inferencer(b)
        for expected in alone:
            np.testing.assert_array_equal(next(ia).prob, expected)
            next(ib)
    finally:
        inferencer.temporal_filter = None


def test_post_processing_options_are_checked_first(tiny_model_files):
    cfg, ckpt = tiny_model_files
    with pytest.raises(ValueError, match="upsampling must be 'bilinear', "
                       "'guided'"):
        VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                upsampling='nearest')
    with pytest.raises(ValueError, match=r'temporal filter: momentum must '
                       r'be in \[0, 1\), got 1.5'):
        VideoPortraitInferencer(cfg, ckpt, device='cpu',
                                temporal_filter=dict(momentum=1.5))
