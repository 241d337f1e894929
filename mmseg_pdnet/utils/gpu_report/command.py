# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Run one of the report's subprocesses (pytest, a tool) and time it."""
import subprocess
import time
from typing import Sequence, Tuple


def run_command(cmd: Sequence[str], root: str,
                timeout_s: int) -> Tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` (``[sys.executable, ...]``) in ``root``, capturing its
    output.

    Returns:
        tuple: the completed process, and the report's record of it:
        ``command`` (as a user types it, ``python ...``), ``returncode``
        and ``wall_s``.
    """
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=root, capture_output=True,
                          text=True, timeout=timeout_s)
    result = dict(command=' '.join(['python', *cmd[1:]]),
                  returncode=proc.returncode,
                  wall_s=time.perf_counter() - start)
    return proc, result
