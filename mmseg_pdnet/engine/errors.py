# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Why training stopped early, as exceptions the tools turn into one line
and an exit status (``tools/train.py``, ``tools/test.py``)."""
import re
import signal
from typing import Optional


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a resume checkpoint
    (:class:`PreemptionHook`).

    Args:
        signum (int): The signal (``signal.SIGTERM``, ``signal.SIGINT``).
        checkpoint (str): The checkpoint ``--resume`` continues from.
    """

    def __init__(self, signum: int, checkpoint: str):
        self.signum = int(signum)
        self.checkpoint = checkpoint
        super().__init__(f'stopped by {signal.Signals(signum).name}; resume '
                         f'checkpoint {checkpoint}')

    @property
    def exit_status(self) -> int:
        """``128 + signum`` (143 for SIGTERM, 130 for SIGINT): what a shell
        reports for a process the signal ended, so schedulers and scripts
        that test for it see a preempted run."""
        return 128 + self.signum


class NonFiniteLossError(RuntimeError):
    """A NaN / inf loss (float32) or a run of steps the AMP loss scaler
    skipped (:class:`NonFiniteLossHook`); nothing was saved after it."""


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (full disk, quota, I/O error);
    the previous one is left complete and named by ``last_checkpoint``."""


#: what a signal that ends a data loader worker most likely means
_SIGNAL_HINTS = {
    signal.SIGKILL: 'out of memory?',
    signal.SIGSEGV: 'a crash in native code of the data pipeline; '
    'num_workers=0 shows where',
    signal.SIGBUS: 'out of shared memory? enlarge /dev/shm',
}
_KILLED = re.compile(
    r'DataLoader worker \(pid (\d+)\) is killed by signal: ([^.]+)\.')
_EXITED = re.compile(r'DataLoader worker \(pid (\d+)\) exited unexpectedly '
                     r'with exit code (-?\d+)')
_ANY_EXITED = re.compile(
    r'DataLoader worker \(pid\(s\) ([\d, ]+)\) exited unexpectedly')


def _signal_of(description: str) -> Optional[signal.Signals]:
    """The signal whose ``strsignal`` text is ``description`` ("Killed")."""
    for sig in signal.Signals:
        try:
            if signal.strsignal(sig) == description:
                return sig
        except ValueError:  # not a valid signal on this platform
            continue
    return None


def describe_worker_death(exc: BaseException) -> Optional[str]:
    """One line for PyTorch's error on a dead data loader worker.

    PyTorch raises ``RuntimeError`` "DataLoader worker (pid N) is killed by
    signal: Killed." from its SIGCHLD handler, or "DataLoader worker
    (pid(s) N) exited unexpectedly" chained to it while the main process
    waits for a batch; the most precise message of the chain is used.

    Args:
        exc (BaseException): The exception training or testing stopped on.

    Returns:
        str | None: e.g. ``a data loader worker (pid 12) was killed by
        signal 9 (SIGKILL: out of memory?)``; None for other errors.
    """
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    for text in chain:
        m = _KILLED.search(text)
        if m:
            pid, sig = m.group(1), _signal_of(m.group(2).strip())
            if sig is None:
                return (f'a data loader worker (pid {pid}) was killed by '
                        f'signal "{m.group(2).strip()}"')
            hint = _SIGNAL_HINTS.get(sig)
            return (f'a data loader worker (pid {pid}) was killed by signal '
                    f'{int(sig)} ({sig.name}' +
                    (f': {hint})' if hint else ')'))
    for text in chain:
        m = _EXITED.search(text)
        if m:
            return (f'a data loader worker (pid {m.group(1)}) exited '
                    f'unexpectedly with exit code {m.group(2)} (num_workers=0 '
                    'shows the error)')
    for text in chain:
        m = _ANY_EXITED.search(text)
        if m:
            return (f'a data loader worker (pid(s) {m.group(1)}) exited '
                    'unexpectedly (killed? out of memory? num_workers=0 '
                    'shows the error)')
    return None
