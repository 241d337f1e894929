# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Stop training on SIGTERM / SIGINT with an exact-resume checkpoint."""
import logging
import os
import signal
import threading
from typing import Optional, Sequence

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS
from torch.utils.data import DataLoader

from ..errors import TrainingInterrupted
from .atomic_checkpoint_hook import (AtomicCheckpointHook,
                                     replace_atomically,
                                     write_text_atomically)


class IgnoreStopSignals:
    """``worker_init_fn`` wrapper: data loader workers ignore SIGTERM and
    SIGINT (the main process decides when to stop, and shuts them down).

    Slurm signals every process of a job step and Ctrl-C every process of
    the terminal's group; a worker that died of it would make PyTorch
    raise in the main process before the iteration ends.

    Args:
        init_fn (callable, optional): The loader's own ``worker_init_fn``.
    """

    def __init__(self, init_fn=None):
        self.init_fn = init_fn

    def __call__(self, worker_id: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        if self.init_fn is not None:
            self.init_fn(worker_id)


def _protect_workers(loader) -> None:
    if isinstance(loader, DataLoader) and not isinstance(
            loader.worker_init_fn, IgnoreStopSignals):
        loader.worker_init_fn = IgnoreStopSignals(loader.worker_init_fn)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop training on SIGTERM or SIGINT with an exact-resume checkpoint.

    The signal handler only takes note. The current iteration finishes;
    then (``after_train_iter``, after every other hook, the regular
    checkpoint included) the hook writes ``iter_<N>.pth`` with
    :meth:`AtomicCheckpointHook.save_now` (atomic, named by
    ``last_checkpoint``; it holds the loop's position in the epoch, the
    image/video phase and the random states, so ``--resume`` continues at
    iteration N + 1 exactly), logs one line and raises
    :class:`TrainingInterrupted`, which ``tools/train.py`` turns into exit
    status 128 + signal (143 for SIGTERM, 130 for SIGINT). When the regular
    checkpoint hook has just saved this very state, that file is used.

    A signal during validation stops after it (``after_val_epoch``); after
    the last epoch training just completes. A second signal stops at once,
    without saving (the default action of the signal). In distributed
    training every rank takes note of the signals it receives and the ranks
    agree after each iteration (one all-reduce of an int), so all of them
    stop after the same iteration; they wait for rank 0 to finish writing
    before exiting. The data loader workers ignore the two signals
    (:class:`IgnoreStopSignals`): the main process shuts them down.

    Args:
        signals (Sequence[str]): Signal names to handle. Defaults to
            ``('SIGTERM', 'SIGINT')``.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGINT')):
        self.signals = [signal.Signals[s] if isinstance(s, str) else
                        signal.Signals(s) for s in signals]
        self._signum: Optional[int] = None
        self._previous = {}
        self._pid = None
        self._last_ckpt_seen = None
        self._training = False

    # ------------------------------------------------------------ handlers
    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:  # a forked worker before its init_fn
            return
        if self._signum is not None:  # second signal: stop now
            self._restore_handlers()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)
            return
        # only take note: logging here could deadlock on the log's lock
        self._signum = signum

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            print_log('PreemptionHook: not in the main thread, signals are '
                      'not handled.', logger='current',
                      level=logging.WARNING)
            return
        self._pid = os.getpid()
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _restore_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    @property
    def requested(self) -> Optional[int]:
        """The stop signal received by this process, if any."""
        return self._signum

    def _agreed_signal(self) -> Optional[int]:
        """The stop signal of any rank (every rank calls this at the same
        points, so the all-reduce pairs up)."""
        signum = self._signum or 0
        if dist.is_distributed():
            flag = torch.tensor([signum], dtype=torch.int64)
            dist.all_reduce(flag, op='max')
            signum = int(flag.item())
        return signum or None

    # --------------------------------------------------------------- hooks
    def before_train(self, runner) -> None:
        self._signum = None
        self._training = True
        self._install_handlers()
        loop = runner.train_loop
        if hasattr(loop, 'add_exit_callback'):
            # also when training stops on an error (no after_train then)
            loop.add_exit_callback(self._restore_handlers)
        loader = getattr(loop, 'dataloader', None)
        for sub in (getattr(loader, 'video_loader', loader),
                    getattr(loader, 'image_loader', None),
                    getattr(getattr(runner, '_val_loop', None), 'dataloader',
                            None)):
            _protect_workers(sub)
        self._last_ckpt_seen = runner.message_hub.get_info('last_ckpt')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        signum = self._agreed_signal()
        last = runner.message_hub.get_info('last_ckpt')
        if signum is None:
            self._last_ckpt_seen = last
            return
        done = runner.iter + 1
        # the checkpoint hook saved this very state during this iteration
        fresh = last if last != self._last_ckpt_seen else None
        self._stop(runner, signum, done, fresh,
                   meta=dict(epoch=runner.epoch, iter=done))

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not self._training or runner.epoch >= runner.max_epochs:
            return  # not training, or training is done: let it complete
        signum = self._agreed_signal()
        if signum is not None:
            self._stop(runner, signum, runner.iter, None,
                       meta=dict(epoch=runner.epoch, iter=runner.iter))

    def after_train(self, runner) -> None:
        self._training = False
        self._restore_handlers()

    # ---------------------------------------------------------------- stop
    def _stop(self, runner, signum: int, done: int, fresh: Optional[str],
              meta: dict) -> None:
        """Save (unless ``fresh``), log one line, raise."""
        name = signal.Signals(signum).name
        path = fresh or self._save(runner, f'iter_{done}.pth', meta)
        dist.barrier()  # no rank exits while rank 0 still writes
        per_epoch = len(runner.train_dataloader)
        epoch, within = divmod(done, per_epoch)
        where = (f'epoch {epoch + 1}, iteration {within} of {per_epoch}'
                 if within else f'the end of epoch {epoch}')
        runner.logger.info(
            f'{name} received: stopped after iteration {done} ({where}); '
            f'resume checkpoint {path} (last_checkpoint): run the same '
            'command with --resume to continue.')
        self._training = False
        self._restore_handlers()
        raise TrainingInterrupted(signum, path)

    @staticmethod
    def _save(runner, filename: str, meta: dict) -> str:
        hook = next((h for h in runner.hooks
                     if isinstance(h, AtomicCheckpointHook)), None)
        if hook is not None and hook.out_dir is not None:
            return hook.save_now(runner, filename, meta)
        # no (atomic) checkpoint hook: the same writing in the work dir
        tmp = filename + '.incomplete'
        runner.save_checkpoint(runner.work_dir, tmp, meta=meta,
                               by_epoch=False)
        path = os.path.join(runner.work_dir, filename)
        if dist.is_main_process():
            replace_atomically(os.path.join(runner.work_dir, tmp), path)
            write_text_atomically(
                os.path.join(runner.work_dir, 'last_checkpoint'), path)
        return path
