"""PDFusionHead used through MMSeg's own decode-head API."""
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_pdnet  # noqa: F401


def build_head():
    head = MODELS.build(dict(type='PDFusionHead', in_channels=16, channels=16,
                             motion_channels=8))
    head.init_weights()
    return head.eval()


def inputs(b=2, h=8, w=12):
    torch.manual_seed(0)
    return torch.randn(b, 16, h, w), torch.randn(b, 8, h // 4, w // 4)


def test_inherited_loss_uses_lseg_without_weight_arguments():
    """BaseDecodeHead.loss passes weight=/ignore_index= to the loss, which
    Lseg does not take; the head's loss_by_feat makes loss() work."""
    head = build_head()
    feats = inputs()
    gt = (torch.rand(2, 1, 32, 48) > 0.5).float()
    samples = []
    for i in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=gt[i])
        samples.append(s)
    losses = head.loss(feats, samples, train_cfg={})
    logits = F.interpolate(head(feats), size=(32, 48), mode='bilinear',
                           align_corners=True)
    expected = head.loss_decode(logits, gt)
    assert torch.allclose(losses['loss_seg'], expected)
    acc = ((logits.sigmoid() > 0.5) == (gt > 0.5)).float().mean() * 100
    assert torch.allclose(losses['acc_seg'], acc)


def test_inherited_predict_resizes_to_the_input():
    head = build_head()
    feats = inputs()
    out = head.predict(feats, [dict(img_shape=(32, 48))] * 2, test_cfg={})
    assert out.shape == (2, 1, 32, 48)
    expected = F.interpolate(head(feats), size=(32, 48), mode='bilinear',
                             align_corners=True)
    assert torch.allclose(out, expected)
