# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from torch import nn


def init_pdnet_weights(module: nn.Module) -> None:
    """Initialise the new (non-backbone) layers as the PDNet authors did.

    Kaiming-normal (fan_in, ReLU) for every convolution and bias 0; BN weight
    1 and bias 0 (docs/fidelity.md). ``ConvModule`` would otherwise use
    its own fan_out initialisation.

    Args:
        module (nn.Module): The module whose sub-layers are initialised.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_in',
                                    nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
