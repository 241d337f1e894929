# MVPS (REFERENCE.md section 3): MVPS/Keyframes/480p/<seq>/*.jpg,
# MVPS/Annotations/480p/<seq>/*.png, MVPS/ImageSets/{train,test}.txt.
dataset_type = 'MVPSDataset'
data_root = 'data/MVPS'
crop_size = 480
train_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations'),
    dict(type='PairedRandomCrop', max_drop=1 / 8),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedResize', scale=crop_size),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PairedResize', scale=crop_size),
    # after the resize: the target mask stays at the original resolution
    dict(type='LoadPairedAnnotations', with_ref=False),
    dict(type='PackPairedSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
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
        type=dataset_type, data_root=data_root, split='test',
        pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='JFMetric')
test_evaluator = val_evaluator
