# The bundled synthetic demo clips (tools/make_demo_data.py --out data/demo),
# in the MVPS layout, at a CPU-friendly size: 128x128 crops keep a
# training iteration of PDNet-R18 (batch 4) around half a second on 2 cores.
_base_ = './mvps.py'
data_root = 'data/demo'
crop_size = 128
train_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations', soft_masks=True),
    dict(type='PairedRandomCrop', max_drop=1 / 8),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedResize', scale=crop_size),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PairedResize', scale=crop_size),
    dict(type='LoadPairedAnnotations', with_ref=False),
    dict(type='PackPairedSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
