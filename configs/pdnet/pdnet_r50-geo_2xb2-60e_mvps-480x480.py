# Paper table 3, second row: the geometric concentration loss only (no area
# variance, no semantic consistency and hence no orthonormal basis loss).
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
model = dict(
    part_loss=dict(
        loss_sem_weight=0.0, loss_ortho_weight=0.0, loss_area_weight=0.0,
        semantic_extractor=None))
