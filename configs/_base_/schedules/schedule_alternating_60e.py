# The authors' schedule (docs/fidelity.md): 60 epochs of alternating
# image/video training (one image batch before every two video batches;
# an epoch is V + ceil(V / 2) iterations), ONE SGD (momentum 0.9, weight
# decay 5e-4, base lr 2.5e-4) with two parameter groups, the backbone and
# everything else (part basis included). Image steps train at group lrs
# (base, 0), video steps at (0.01 x base, 10 x base); the group at lr 0 is
# still stepped, so its momentum buffer carries the image gradients into
# the next video steps. Poly decay (1 - t/T)^0.9 over all iterations of
# both phases, times 0.5 from epoch 6 on.
base_lr = 2.5e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4),
    constructor='PhaseOptimWrapperConstructor',
    paramwise_cfg=dict(
        groups=dict(backbone=['backbone.backbone']),
        phase_lr_mult=dict(
            image=dict(backbone=1.0, others=0.0),
            video=dict(backbone=0.01, others=10.0))))
# Chained schedulers multiply: lr = base * (1 - t/T)^0.9 * 0.5^[e >= 6];
# both are epoch-based, converted to iterations of the interleaved epoch.
param_scheduler = [
    dict(type='PDNetPolyLR', power=0.9, eta_min=0.0, by_epoch=True,
         begin=0, end=60, convert_to_iter_based=True),
    dict(type='MultiStepLR', milestones=[6], gamma=0.5, by_epoch=True,
         begin=0, end=60, convert_to_iter_based=True),
]
# image_dataloader is set by the config that defines the image sets.
train_cfg = dict(
    type='AlternatingImageVideoLoop', max_epochs=60, val_begin=1,
    val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Every epoch is saved and none is selected by J&F: the MVPS evaluation
# split is its test set. J&F is still logged at every validation.
# AtomicCheckpointHook: MMEngine's CheckpointHook, crash-safe (a run killed
# while saving keeps its previous checkpoint and resumes).
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='AtomicCheckpointHook', by_epoch=True, interval=1,
        max_keep_ckpts=5, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
