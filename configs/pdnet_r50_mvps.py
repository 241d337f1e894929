# The short name of the model-zoo config
# configs/pdnet/pdnet_r50_2xb2-60e_mvps-480x480.py (PDNet-R50 on MVPS, the
# paper's recipe); it changes nothing:
#     python tools/train.py configs/pdnet_r50_mvps.py
_base_ = './pdnet/pdnet_r50_2xb2-60e_mvps-480x480.py'
