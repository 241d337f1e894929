# Backbone swap: MiT-B2 (SegFormer's Mix Transformer) instead of ResNet-50,
# ImageNet-pretrained weights as in MMSeg's SegFormer configs. The lr
# multipliers address the encoder by its module name, unchanged.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b2_20220624-66e8bf70.pth'  # noqa
model = dict(
    backbone=dict(
        backbone=dict(
            _delete_=True,
            type='MixVisionTransformer',
            in_channels=3,
            embed_dims=64,
            num_stages=4,
            num_layers=[3, 4, 6, 3],
            num_heads=[1, 2, 5, 8],
            patch_sizes=[7, 3, 3, 3],
            sr_ratios=[8, 4, 2, 1],
            out_indices=(0, 1, 2, 3),
            mlp_ratio=4,
            qkv_bias=True,
            drop_rate=0.0,
            attn_drop_rate=0.0,
            drop_path_rate=0.1,
            init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
        decoder=dict(in_channels=[64, 128, 320, 512])))
