# The authors' schedule (REFERENCE.md section 3): 60 epochs of alternating
# image/video training (one image batch before every two video batches;
# an epoch is V + ceil(V / 2) iterations), SGD momentum 0.9, weight decay
# 5e-4, base lr 2.5e-4; video steps: backbone 0.01 x base, everything else
# 10 x base; image steps: backbone only at the base lr. Poly decay (power
# 0.9) over all iterations of both phases, times 0.5 from epoch 6 on.
base_lr = 2.5e-4
sgd = dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(
    constructor='PhaseOptimWrapperConstructor',
    video=dict(
        type='OptimWrapper',
        optimizer=sgd,
        lr_mult={'backbone.backbone': 0.01},
        default_lr_mult=10.0),
    image=dict(
        type='OptimWrapper', optimizer=sgd, params=['backbone.backbone']))
# Chained schedulers multiply: lr = base * mult * (1 - t/T)^0.9 * 0.5^[e>=6];
# both are epoch-based, converted to iterations of the interleaved epoch.
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0,
         end=60, convert_to_iter_based=True),
    dict(type='MultiStepLR', milestones=[6], gamma=0.5, by_epoch=True,
         begin=0, end=60, convert_to_iter_based=True),
]
# image_dataloader is set by the config that defines the image sets.
train_cfg = dict(
    type='AlternatingImageVideoLoop', max_epochs=60, val_begin=1,
    val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3,
        save_best='J&F', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
