_base_ = './pdnet_r50_mvps.py'
model = dict(
    backbone=dict(
        backbone=dict(
            depth=101,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet101'))))
