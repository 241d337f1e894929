# Three parts (paper table 4).
_base_ = './pdnet_r50_mvps.py'
model = dict(neck=dict(num_parts=3))
