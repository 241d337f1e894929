# PDNet with an ImageNet-pretrained torchvision ResNet-101 encoder.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
model = dict(
    backbone=dict(
        backbone=dict(
            depth=101,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet101'))))
