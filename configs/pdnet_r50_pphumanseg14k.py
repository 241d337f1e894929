# PDNet-R50 on PP-HumanSeg14K (teleconference videos), same recipe.
_base_ = [
    '_base_/models/pdnet_r50.py', '_base_/datasets/pphumanseg14k.py',
    '_base_/datasets/portrait_images.py', '_base_/default_runtime.py',
    '_base_/schedules/schedule_alternating_60e.py'
]
sync_bn = 'torch'
find_unused_parameters = True
train_cfg = dict(image_dataloader={{_base_.image_dataloader}})
# mixed precision: ONE loss scaler for both phases, as the authors
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
