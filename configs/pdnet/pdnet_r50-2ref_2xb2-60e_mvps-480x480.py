# Paper table 5: two reference frames, the clip's first annotated frame and
# the annotated frame five annotations before the target. Paper: J&F 88.7.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
num_refs = 2
data_preprocessor = dict(num_refs=num_refs)
model = dict(
    data_preprocessor=data_preprocessor, neck=dict(num_refs=num_refs))
train_dataloader = dict(dataset=dict(ref_strategy='first+prev5'))
val_dataloader = dict(dataset=dict(ref_strategy='first+prev5'))
test_dataloader = val_dataloader
# image samples: the image itself is every reference
train_cfg = dict(
    image_dataloader=dict(
        dataset=dict(datasets=[
            dict(type='PortraitImageDataset', data_root=f'data/{name}',
                 num_refs=num_refs, pipeline={{_base_.image_pipeline}})
            for name in ('EG1800', 'Supervisely', 'COCO-person')
        ])))
