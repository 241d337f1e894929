# Two reference frames (paper table 5): the first annotated frame and the
# annotated frame five annotations before the target.
_base_ = './pdnet_r50_mvps.py'
model = dict(data_preprocessor=dict(num_refs=2), neck=dict(num_refs=2))
train_dataloader = dict(dataset=dict(ref_strategy='first+prev5'))
val_dataloader = dict(dataset=dict(ref_strategy='first+prev5'))
test_dataloader = val_dataloader
image_dataloader = dict(
    dataset=dict(datasets=[
        dict(type='PortraitImageDataset', data_root=f'data/{name}',
             pipeline={{_base_.image_pipeline}}, num_refs=2)
        for name in ('EG1800', 'Supervisely', 'COCO-person')
    ]))
train_cfg = dict(image_dataloader=image_dataloader)
