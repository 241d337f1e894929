# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The line that says which device gave the numbers."""
import os
import platform

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, what ``lscpu`` shows on
    Linux), else what :mod:`platform` knows."""
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return name


def device_name(device: str) -> str:
    """The GPU's name, or the CPU model with thread and core counts."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'{cpu_model()}, {torch.get_num_threads()} torch threads, ' \
           f'{os.cpu_count()} logical CPUs'
