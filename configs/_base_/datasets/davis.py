# DAVIS 2016/2017 layout: JPEGImages/480p, Annotations/480p (palette PNGs,
# every object id is foreground), ImageSets/<year>/<split>.txt.
_base_ = './mvps.py'
dataset_type = 'DAVISVideoDataset'
data_root = 'data/DAVIS'
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root, year='2016',
        split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root, year='2016',
        split='val', pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
