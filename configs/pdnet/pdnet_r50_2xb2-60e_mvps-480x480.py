# PDNet-R50 on MVPS, the paper's recipe (configs/_base_/pdnet_r50_2xb2-60e_
# recipe.py). Paper table 1: J&F 88.1, J 90.0, F 86.1 on the MVPS test set
# (the authors' evaluation protocol, docs/evaluation.md).
_base_ = [
    '../_base_/pdnet_r50_2xb2-60e_recipe.py', '../_base_/datasets/mvps.py'
]
