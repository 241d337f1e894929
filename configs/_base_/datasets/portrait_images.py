# Still portrait images for the image steps of the alternating training:
# EG1800, Supervisely Person and COCO images with a person >= 5,000 px,
# each prepared as <root>/images + <root>/masks
# (tools/dataset_converters/{coco_person,supervisely}.py).
image_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='LoadPairedAnnotations', soft_masks=True),
    dict(type='PairedRandomCrop', max_drop=1 / 8),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedResize', scale=480, to_float32=True),
    dict(type='PackPairedSegInputs'),
]
image_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as the authors: no smaller last batch
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(type='PortraitImageDataset', data_root=f'data/{name}',
                 pipeline=image_pipeline)
            for name in ('EG1800', 'Supervisely', 'COCO-person')
        ]))
