# MVPS as released (docs/fidelity.md): MVPS/Keyframes/480p/<seq>/*.jpg,
# MVPS/Annotations/480p/<seq>/*.png (0/255), MVPS/ImageSets/{train,val}.txt;
# split='val' reads ImageSets/test.txt when val.txt is missing.
# Training masks are soft (value / 255, resized bilinearly with the frames)
# as the authors'; evaluation masks are 0/1 at the original resolution.
# Frames are resized in float32 and not rounded back to 8 bits: the authors
# resize normalised float frames, and this gives their network input to
# float precision (docs/fidelity.md).
dataset_type = 'MVPSDataset'
data_root = 'data/MVPS'
crop_size = 480
train_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations', soft_masks=True),
    dict(type='PairedRandomCrop', max_drop=1 / 8),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedResize', scale=crop_size, to_float32=True),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PairedResize', scale=crop_size, to_float32=True),
    # after the resize: the target mask stays at the original resolution
    dict(type='LoadPairedAnnotations', with_ref=False),
    dict(type='PackPairedSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as the authors: no smaller last batch
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='val',
        pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='JFMetric')
# tools/test.py reports both protocols: the DAVIS p >= 0.5 one and the
# authors' round(255 p) > 0 one, which the paper's numbers used
# (docs/evaluation.md)
test_evaluator = dict(type='JFMetric', extra_thresholds=['authors'])
