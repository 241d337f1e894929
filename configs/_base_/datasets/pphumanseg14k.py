# PP-HumanSeg14K: images/, annotations/, {train,val,test}.txt of
# "<image> <mask>" lines; frames grouped into clips by file name
# (see PPHumanSeg14KDataset).
_base_ = './mvps.py'
dataset_type = 'PPHumanSeg14KDataset'
data_root = 'data/PP-HumanSeg14K'
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root,
        split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root, split='test',
        pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
