# PP-HumanSeg14K as PaddleSeg releases it: images/, annotations/ (portrait
# = label 1), {train,val,test}.txt of "<image> <mask>" lines.
# Frames are grouped into clips as the authors' loader does (the listed
# image path without its first 7 and last 8 characters, see
# PPHumanSeg14KDataset). The authors train on train_new.txt and evaluate on
# val_new.txt, lists of their own that are not public (docs/fidelity.md);
# with them, set split='train_new' / 'val_new'. Without them: the release's
# train.txt, and val.txt for evaluation, as the authors evaluate on val
# (test.txt has no released masks).
_base_ = './mvps.py'
dataset_type = 'PPHumanSeg14KDataset'
data_root = 'data/PP-HumanSeg14K'
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root,
        split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root, split='val',
        pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
