_base_ = [
    '_base_/models/pdnet_r50.py', '_base_/datasets/pphumanseg14k.py',
    '_base_/datasets/portrait_images.py', '_base_/default_runtime.py',
    '_base_/schedules/pdnet_60e.py'
]
train_cfg = dict(image_dataloader={{_base_.image_dataloader}})
optim_wrapper = dict(
    video=dict(type='AmpOptimWrapper'), image=dict(type='AmpOptimWrapper'))
sync_bn = 'torch'
