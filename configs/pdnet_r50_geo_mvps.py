# Ablation (paper table 3): part losses = geometric concentration only.
_base_ = './pdnet_r50_mvps.py'
model = dict(part_loss=dict(loss_sem_weight=0., loss_area_weight=0.))
