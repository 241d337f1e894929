# Ablation (paper table 3): geometric concentration + area variance.
_base_ = './pdnet_r50_mvps.py'
model = dict(part_loss=dict(loss_sem_weight=0.))
