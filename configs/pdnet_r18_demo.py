# PDNet with a ResNet-18 (random init: nothing is downloaded) trained on the
# bundled synthetic demo clips on a CPU in a few minutes (make demo).
_base_ = [
    '_base_/models/pdnet_r50.py', '_base_/datasets/demo.py',
    '_base_/default_runtime.py', '_base_/schedules/pdnet_60e.py'
]
model = dict(
    backbone=dict(
        backbone=dict(depth=18, init_cfg=None),
        decoder=dict(in_channels=[64, 128, 256, 512])),
    # The frozen extractor would have random weights here (no download),
    # which makes the semantic loss meaningless: use geo + area.
    part_loss=dict(loss_sem_weight=0., semantic_extractor=None))
# video-only (no image set), random init: a larger lr than the paper's
# fine-tuning lr, the same for every part of the network.
optim_wrapper = dict(
    _delete_=True,
    constructor='PhaseOptimWrapperConstructor',
    video=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4),
        clip_grad=dict(max_norm=10.)))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False, begin=0)
]
train_cfg = dict(max_epochs=6, val_interval=6)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=6, max_keep_ckpts=1, save_best=None))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
