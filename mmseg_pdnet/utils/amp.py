# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Mixed precision: the one place that turns ``--amp`` into a dtype.

Every tool spells the option the same way: ``--amp`` alone picks the
device's default half type, ``--amp fp16`` / ``--amp bf16`` pick one.
"""
import argparse
from typing import Optional, Union

import torch

#: the names ``--amp`` accepts, and their dtypes
AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def amp_dtype(amp: Union[bool, str, None],
              device: Union[str, torch.device]) -> Optional[torch.dtype]:
    """The autocast dtype of an ``amp`` setting on ``device``.

    Args:
        amp (bool | str | None): False/None: no autocast; True: float16 on
            CUDA, bfloat16 elsewhere (CPU autocast supports bfloat16 only
            in most kernels); ``'fp16'`` / ``'bf16'``: that dtype.
        device (str | torch.device): Where the model runs.

    Returns:
        torch.dtype | None: The autocast dtype, None without AMP.

    Raises:
        ValueError: ``amp`` is not one of the above.
    """
    if amp is False or amp is None:
        return None
    if amp is True:
        return torch.float16 if torch.device(device).type == 'cuda' \
            else torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be True, False, 'fp16' or 'bf16', "
                         f'got {amp!r}')
    return AMP_DTYPES[amp]


def add_amp_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add the tools' one spelling of the AMP option, ``--amp [fp16|bf16]``.

    Args:
        parser (ArgumentParser): The tool's parser.
        what (str): What runs in mixed precision (for the help text).
    """
    parser.add_argument(
        '--amp', nargs='?', const=True, default=False,
        choices=(True, *AMP_DTYPES),
        help=f'mixed precision for {what}: --amp alone is fp16 on CUDA and '
        'bf16 on the CPU; --amp fp16 or --amp bf16 picks the type')
