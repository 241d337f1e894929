# Paper table 4: one part (p = 1); the part losses are off (PDNet turns them
# off itself when num_parts < 2). Paper: J&F 86.2.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
model = dict(neck=dict(num_parts=1), part_loss=None)
