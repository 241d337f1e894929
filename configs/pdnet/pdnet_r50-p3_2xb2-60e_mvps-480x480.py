# Paper table 4: three parts. Paper: J&F 86.7.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
model = dict(neck=dict(num_parts=3), part_loss=dict(num_parts=3))
