# PDNet with a ResNet-18 encoder (random init: nothing is downloaded),
# trained on the bundled synthetic demo clips on a CPU in a few minutes
# (`make demo`; data from tools/make_demo_data.py --out data/demo).
_base_ = [
    '../_base_/models/pdnet_r50.py', '../_base_/datasets/demo.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_alternating_60e.py'
]
model = dict(
    backbone=dict(
        backbone=dict(depth=18, init_cfg=None),
        decoder=dict(in_channels=[64, 128, 256, 512])),
    # A frozen extractor with random weights makes the semantic loss
    # meaningless (and costs time): geometric concentration + area only.
    part_loss=dict(
        loss_sem_weight=0., loss_ortho_weight=0., semantic_extractor=None))
# Video-only training (no image set), from random init, in 480 iterations:
# AdamW, one lr for every parameter, instead of the paper's SGD fine-tuning
# of an ImageNet encoder (lr 2.5e-4). Measured on the demo clips (seed 0,
# one torch thread, 5 epochs, float32): SGD lr 0.02 gave J&F 71.0, AdamW
# lr 1e-3 74.9, AdamW lr 2e-3 75.5; docs/demo.md has the seeds.
# On a CPU with native bfloat16 (AVX512-BF16, AMX) the forward runs under
# bfloat16 autocast: 0.7x the float32 time per iteration on a 2-core AMD
# EPYC (0.27 against 0.38 s with 2 threads), which pays for the sixth epoch (5 epochs in bfloat16 gave
# 76.7 / 76.9 / 72.6 on seeds 0 / 1 / 2, 6 epochs 80.1 / 78.8 / 77.3).
# float32 elsewhere, where bfloat16 is emulated and slower.
optim_wrapper = dict(
    _delete_=True,
    type='CPUAutocastOptimWrapper',
    enabled='auto',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.))
max_epochs = 6
param_scheduler = [
    dict(type='PDNetPolyLR', power=0.9, eta_min=0., by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))
# With the semantic loss off the part basis gets no gradient: DDP must
# tolerate unused parameters (`tools/dist_train.sh ... 2` on CPUs: gloo).
find_unused_parameters = True
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
