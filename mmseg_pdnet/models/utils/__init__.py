from .fuse_conv_bn import fold_bn_into_conv, fuse_conv_bn
from .resize import resize_bilinear
from .weight_init import init_pdnet_weights

__all__ = [
    'init_pdnet_weights', 'fuse_conv_bn', 'fold_bn_into_conv',
    'resize_bilinear'
]
