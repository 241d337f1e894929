import types

import cv2
import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_pdnet.engine.hooks import InferenceSpeedHook, PairVisualizationHook


def sample(tmp_path, name='00003'):
    seq = tmp_path / 'frames' / 'clip'
    seq.mkdir(parents=True, exist_ok=True)
    for n in ('00000', name):
        cv2.imwrite(str(seq / f'{n}.jpg'), np.full((30, 40, 3), 120,
                                                   np.uint8))
    s = SegDataSample()
    pred = torch.zeros(1, 30, 40, dtype=torch.long)
    pred[0, 5:20, 10:30] = 1
    s.pred_sem_seg = PixelData(data=pred)
    s.gt_sem_seg = PixelData(data=pred.clone())
    s.pred_parts = PixelData(data=torch.rand(3, 2, 3))
    s.set_metainfo(dict(img_path=str(seq / f'{name}.jpg'),
                        ref_img_paths=[str(seq / '00000.jpg')],
                        seq_name='clip', frame_name=name))
    return s


def test_pair_visualization_panels(tmp_path):
    hook = PairVisualizationHook(interval=2, out_dir=str(tmp_path / 'vis'),
                                 draw=True)
    panel = hook.panels(sample(tmp_path))
    # target | reference | prediction | ground truth | parts
    assert panel.shape == (30, 5 * 40, 3)
    runner = types.SimpleNamespace(visualizer=None, log_dir=str(tmp_path))
    hook.after_test_iter(runner, 0, outputs=[sample(tmp_path, '00004'),
                                             sample(tmp_path, '00005')])
    written = sorted(p.name for p in (tmp_path / 'vis' / 'clip').iterdir())
    assert written == ['00004.png']  # every second sample
    # by default it follows SegVisualizationHook.draw (--show-dir)
    auto = PairVisualizationHook(interval=1)
    seg_hook = type('SegVisualizationHook', (), {'draw': False})()
    runner.hooks = [seg_hook]
    auto.after_test_iter(runner, 0, outputs=[sample(tmp_path, '00006')])
    assert not (tmp_path / 'vis_pairs').exists()
    seg_hook.draw = True
    backend = types.SimpleNamespace(_save_dir=str(tmp_path / 'sd'))
    runner.visualizer = types.SimpleNamespace(_vis_backends={'b': backend})
    auto.after_test_iter(runner, 0, outputs=[sample(tmp_path, '00007')])
    assert (tmp_path / 'sd' / 'vis_pairs' / 'clip' / '00007.png').exists()


def test_inference_speed_hook_reports_fps():
    hook = InferenceSpeedHook(warmup=1)
    runner = types.SimpleNamespace(
        message_hub=MessageHub.get_instance('speed_hook_test'))
    hook.before_test_epoch(runner)
    for i in range(4):
        hook.before_test_iter(runner, i)
        hook.after_test_iter(runner, i, outputs=[None, None])
    hook.after_test_epoch(runner)
    fps_model = runner.message_hub.get_info('test/fps_model')
    fps_total = runner.message_hub.get_info('test/fps_total')
    assert fps_model > 0 and fps_total > 0 and fps_model >= fps_total * 0.99


def test_channels_last_hook_converts_model_and_inputs():
    from mmseg_pdnet.engine.hooks import ChannelsLastHook
    from mmseg_pdnet.models.data_preprocessors import \
        PairedSegDataPreProcessor

    model = torch.nn.Conv2d(6, 4, 3)
    model.data_preprocessor = PairedSegDataPreProcessor()
    ChannelsLastHook().before_run(types.SimpleNamespace(model=model))
    assert model.weight.is_contiguous(memory_format=torch.channels_last)
    batch = dict(inputs=[torch.zeros(6, 8, 8, dtype=torch.uint8)],
                 data_samples=None)
    x = model.data_preprocessor(batch, False)['inputs']
    assert x.is_contiguous(memory_format=torch.channels_last)
