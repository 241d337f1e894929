# Paper table 3, first row: without IPDA and spatiotemporal fusion (the
# reference frame is unused). Paper: J&F 85.0.
_base_ = './pdnet_r50_2xb2-60e_mvps-480x480.py'
model = dict(use_ipda=False, neck=None, part_loss=None)
