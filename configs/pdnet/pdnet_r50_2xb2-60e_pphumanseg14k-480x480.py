# PDNet-R50 on PP-HumanSeg14K (teleconference videos), the same recipe.
_base_ = [
    '../_base_/pdnet_r50_2xb2-60e_recipe.py',
    '../_base_/datasets/pphumanseg14k.py'
]
