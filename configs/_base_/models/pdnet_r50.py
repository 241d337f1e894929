# PDNet-R50 (p = 5, one reference frame), as the authors' model
# (docs/fidelity.md). ImageNet-pretrained torchvision ResNet-50: the
# torchvision:// weights need the torchvision package and internet access
# (pip install -e ".[train]"); offline, point the two checkpoint keys below
# at local files.
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN in multi-GPU configs
data_preprocessor = dict(
    type='PairedSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    num_refs=1,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=0)
model = dict(
    type='PDNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SiameseEncoder',
        # training: target and reference in separate encoder calls, so BN
        # statistics are per frame set, as the authors
        per_frame_norm=True,
        backbone=dict(
            type='ResNet',
            depth=50,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            style='pytorch',  # torchvision-style stem and strides
            norm_cfg=norm_cfg,
            norm_eval=False,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet50')),
        decoder=dict(
            type='MultiplicativeTopDown',
            in_channels=[256, 512, 1024, 2048],
            channels=128,
            norm_cfg=norm_cfg)),
    neck=dict(
        type='IPDA',
        in_channels=128,
        channels=64,
        attn_channels=32,
        num_parts=5,
        num_refs=1,
        scale_attention=False,
        downsample=4,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='PDFusionHead',
        in_channels=128,
        motion_channels=64,
        channels=128,
        num_side_outputs=4,
        threshold=0.5,  # the mask: probability > threshold
        norm_cfg=norm_cfg,
        loss_decode=dict(type='PDSegLoss', l1_weight=0.8)),
    part_loss=dict(
        type='PartDecouplingLoss',
        num_parts=5,
        feat_channels=512,
        loss_geo_weight=1.0,
        loss_sem_weight=1.0,
        loss_ortho_weight=1.0,
        loss_area_weight=1.0,
        # Frozen ImageNet ResNet-18 layer4 for the semantic-consistency
        # loss; a local path or URL of torchvision's resnet18 weights.
        semantic_extractor=dict(
            type='FrozenResNet18Features',
            checkpoint='torchvision://resnet18')),
    train_cfg=dict(side_weight=0.8, ref_weight=0.64),
    test_cfg=dict())
