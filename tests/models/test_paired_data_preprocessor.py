import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from tests.helpers import MODEL_BASE


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 256, (6, 40, 50), generator=g,
                                    dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.ones(1, 40, 50).long())
        s.set_metainfo(dict(img_shape=(40, 50), ori_shape=(40, 50),
                            flip=bool(i), category=f'cat{seed}'))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_normalises_pads_and_stacks_both_frames():
    cfg = Config.fromfile(MODEL_BASE)
    pre = MODELS.build(cfg.data_preprocessor)
    data = batch(0)
    out = pre(data, True)
    assert out['inputs'].shape == (2, 6, 64, 64)  # size_divisor 32
    target = data['inputs'][0][:3].flip(0).float()  # BGR -> RGB
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    torch.testing.assert_close(out['inputs'][0, :3, :40, :50],
                               (target - mean) / std)
    reference = data['inputs'][0][3:].flip(0).float()
    torch.testing.assert_close(out['inputs'][0, 3:, :40, :50],
                               (reference - mean) / std)


def test_compiled_train_step_runs_the_preprocessor_eagerly():
    """MMEngine's ``compile`` option wraps the whole ``train_step``. The
    preprocessor deep-copies every sample's metainfo, so dynamo recompiled
    it at every iteration (new metainfo objects); it is excluded, and
    compiles nothing however the metainfo changes."""
    cfg = Config.fromfile(MODEL_BASE)
    pre = MODELS.build(cfg.data_preprocessor)
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    compiled = torch.compile(pre, backend=counting_backend)
    for seed in range(3):
        out = compiled(batch(seed), True)
        torch.testing.assert_close(out['inputs'],
                                   pre(batch(seed), True)['inputs'])
    assert graphs == []
