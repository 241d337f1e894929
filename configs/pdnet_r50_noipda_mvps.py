# Ablation (paper table 3): without IPDA and spatiotemporal fusion.
_base_ = './pdnet_r50_mvps.py'
model = dict(use_ipda=False, part_loss=None)
