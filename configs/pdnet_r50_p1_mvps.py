# One part (paper table 4): IPDA without part decoupling; part losses off.
_base_ = './pdnet_r50_mvps.py'
model = dict(neck=dict(num_parts=1), part_loss=None)
