# The authors' schedule (REFERENCE.md section 3): SGD momentum 0.9, weight
# decay 5e-4, base lr 2.5e-4, poly decay (power 0.9) over all iterations of
# both phases, times 0.5 from epoch 6 on, 60 epochs.
#
# Video steps: everything at 10 x base, the backbone (ResNet) at 0.01 x base
# (the authors' code; the paper's text says 2.5e-5 for the backbone).
# Image steps: the backbone only, at the base lr.
base_lr = 2.5e-4
optimizer = dict(type='SGD', momentum=0.9, weight_decay=5e-4)
frozen = dict(lr_mult=0., decay_mult=0.)
optim_wrapper = dict(
    constructor='PhaseOptimWrapperConstructor',
    video=dict(
        type='OptimWrapper',
        optimizer=dict(optimizer, lr=10 * base_lr),
        paramwise_cfg=dict(
            custom_keys={'backbone.backbone': dict(lr_mult=0.001)})),
    image=dict(
        type='OptimWrapper',
        optimizer=dict(optimizer, lr=base_lr),
        paramwise_cfg=dict(
            custom_keys={
                'backbone.decoder': frozen,
                'neck': frozen,
                'decode_head': frozen,
                'part_loss': frozen
            })))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False, begin=0),
    dict(type='MultiStepLR', milestones=[6], gamma=0.5, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(
    type='AlternatingImageVideoLoop', max_epochs=60, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
