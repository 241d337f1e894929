# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Crash-safe checkpoint saving: write, rename into place, then clean up."""
import contextlib
import errno
import glob
import os
import os.path as osp
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ..errors import CheckpointSaveError

#: suffix of a checkpoint being written; renamed away when complete
TMP_SUFFIX = '.incomplete'
#: message-hub key: checkpoints to remove once the newer one is in place
PENDING_REMOVAL = 'ckpts_to_remove'
#: message-hub key: extra checkpoints (:meth:`AtomicCheckpointHook.save_now`,
#: written on a stop signal) to remove after the next regular one
EXTRA_CKPTS = 'extra_ckpts'
#: errors of fsync that mean the data did not reach the disk
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


def _fsync(path: str) -> None:
    """Flush a file (or folder entry) to disk.

    Best effort (some file systems cannot fsync), except for the errors
    saying the bytes were not written (full disk, quota, I/O error), which
    network file systems may report only here.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a folder cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno in _WRITE_ERRNOS:
            raise
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` names, if any."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint'),
                  encoding='utf-8') as f:
            return f.read().strip() or None
    except OSError:
        return None


def _save_error(runner, out_dir: str, filename: str,
                error: OSError) -> CheckpointSaveError:
    """The one-line error of a failed save (what is kept, what failed)."""
    last = read_last_checkpoint(runner.work_dir)
    kept = (f'the previous checkpoint {last} is kept (last_checkpoint)'
            if last else 'no complete checkpoint was saved before')
    reason = error.strerror or str(error)
    if error.errno is not None:
        reason = f'[Errno {error.errno}] {reason}'
    return CheckpointSaveError(
        f'could not save checkpoint {filename} in {out_dir}: {reason}; '
        f'training stopped, {kept}')


def replace_atomically(tmp_path: str, path: str) -> None:
    """Move a completely written ``tmp_path`` onto ``path`` in one step.

    Args:
        tmp_path (str): The written file, in the folder of ``path``.
        path (str): The final name; an existing file is replaced.
    """
    _fsync(tmp_path)
    os.replace(tmp_path, path)
    _fsync(osp.dirname(osp.abspath(path)))


def write_text_atomically(path: str, text: str) -> None:
    """Write a small text file so that readers see the old or new text.

    Args:
        path (str): The file.
        text (str): Its new content.
    """
    tmp_path = path + TMP_SUFFIX
    try:
        with open(tmp_path, 'w', encoding='utf-8') as f:
            f.write(text)
        replace_atomically(tmp_path, path)
    except OSError:
        _remove_quietly(tmp_path)
        raise


class _DeferredRemovals:
    """File backend proxy that records removals instead of doing them."""

    def __init__(self, backend):
        self._backend = backend
        self.paths: List[str] = []

    def remove(self, path):
        self.paths.append(path)

    def rmtree(self, path):
        self.paths.append(path)

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module(name=['AtomicCheckpointHook', 'CheckpointHook'])
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's :class:`CheckpointHook`, safe against a kill at any time.

    MMEngine 0.10 removes the oldest checkpoint (``max_keep_ckpts``) BEFORE
    it writes the new one, writes the new one in place and then rewrites
    ``last_checkpoint``: killed in between (with ``max_keep_ckpts=1``), a
    run is left with no complete checkpoint and ``--resume`` fails. Here
    every save is, in this order:

    1. the checkpoint is written to ``<name>.incomplete`` in the same
       folder, flushed, and renamed onto ``<name>`` (:func:`os.replace`,
       atomic);
    2. ``last_checkpoint`` is rewritten the same way;
    3. only then are the checkpoints beyond ``max_keep_ckpts`` (or the
       previous best one, ``save_best``) removed.

    A kill at any step leaves the previous checkpoint complete and named
    by ``last_checkpoint`` (before step 2) or the new one (after it), so
    ``--resume`` works. The names to remove are saved in the new
    checkpoint: a run resumed from it removes what the killed run did not
    get to; ``.incomplete`` files of a killed save are removed when the
    next run starts. The arguments are those of :class:`CheckpointHook`.
    Remote ``out_dir`` backends (no atomic rename) are saved as MMEngine
    does.

    A save that fails (``OSError``: full disk, quota, I/O error) removes
    its partial file and raises :class:`CheckpointSaveError`, naming the
    folder, the error and the checkpoint kept: the previous checkpoint and
    ``last_checkpoint`` are untouched, and training stops.

    :meth:`save_now` writes an extra resume checkpoint of the current
    state (:class:`PreemptionHook`, on a stop signal) the same way.

    Registered in MMSeg's ``HOOKS`` under its own name AND under the name
    ``CheckpointHook``: with ``default_scope='mmseg'`` and this package
    imported, every config (ours, users' ones, and the runner's default
    ``checkpoint`` hook) gets the crash-safe saving without being edited;
    the behaviour is otherwise MMEngine's. Our configs name
    ``AtomicCheckpointHook`` explicitly.
    """

    _atomic = False  # set by before_train: is out_dir a local folder?

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = isinstance(self.file_backend, LocalBackend)
        if not (self._atomic and is_main_process()):
            return
        # leftovers of a run killed while saving
        stale = glob.glob(osp.join(glob.escape(self.out_dir),
                                   '*' + TMP_SUFFIX))
        stale.append(osp.join(runner.work_dir, 'last_checkpoint' + TMP_SUFFIX))
        for path in stale:
            if osp.isfile(path):
                os.remove(path)
        pending = runner.message_hub.get_info(PENDING_REMOVAL, [])
        kept = [self.filename_tmpl.format(step)
                for step in getattr(self, 'keep_ckpt_ids', [])]
        self._remove([name for name in pending if name not in kept])
        runner.message_hub.update_info(PENDING_REMOVAL, [])

    def _remove(self, names: List[str]) -> None:
        for name in names:
            path = osp.join(self.out_dir, osp.basename(name))
            if osp.isfile(path):
                os.remove(path)

    def _save_atomically(self, runner, out_dir: str, filename: str,
                         **kwargs) -> None:
        """``runner.save_checkpoint`` to a temporary name, then renamed.

        Raises:
            CheckpointSaveError: The file could not be written; the partial
                file is removed, nothing else changed.
        """
        tmp_path = osp.join(out_dir, filename + TMP_SUFFIX)
        try:
            type(runner).save_checkpoint(runner, out_dir,
                                         filename + TMP_SUFFIX, **kwargs)
            if is_main_process():  # Runner.save_checkpoint is master_only
                replace_atomically(tmp_path, osp.join(out_dir, filename))
        except OSError as e:
            if is_main_process():
                _remove_quietly(tmp_path)  # frees the space it took
            raise _save_error(runner, out_dir, filename, e) from e

    def _write_last_checkpoint(self, runner, path: str) -> None:
        try:
            write_text_atomically(
                osp.join(runner.work_dir, 'last_checkpoint'), path)
        except OSError as e:
            raise _save_error(runner, runner.work_dir, 'last_checkpoint',
                              e) from e

    def save_now(self, runner, filename: str, meta: dict) -> str:
        """Save a resume checkpoint of the current state now, atomically,
        and name it in ``last_checkpoint``.

        It is not one of the ``max_keep_ckpts`` (its name is not of the
        hook's series): the next regular checkpoint removes it once it is
        in place. Optimizer and schedulers are always saved.

        Args:
            runner (Runner): The runner.
            filename (str): e.g. ``iter_5.pth``.
            meta (dict): ``epoch`` and ``iter`` the resumed run starts
                from (MMEngine's ``meta``).

        Returns:
            str: The checkpoint's path.
        """
        path = self.file_backend.join_path(self.out_dir, filename)
        older = runner.message_hub.get_info(EXTRA_CKPTS, [])
        if not self._atomic:
            runner.save_checkpoint(self.out_dir, filename, meta=meta,
                                   by_epoch=False,
                                   backend_args=self.backend_args)
            return path
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)
        runner.message_hub.update_info(EXTRA_CKPTS, [filename])
        self._save_atomically(
            runner, self.out_dir, filename,
            file_client_args=self.file_client_args, save_optimizer=True,
            save_param_scheduler=True, meta=meta, by_epoch=False,
            backend_args=self.backend_args, **self.args)
        if is_main_process():
            self._write_last_checkpoint(runner, path)
            self._remove([n for n in older if n != filename])
        return path

    def _save_checkpoint_with_step(self, runner, step, meta):
        """Save ``step``'s checkpoint; then drop the old ones (see above)."""
        if not self._atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        to_remove = []
        # the same bookkeeping as MMEngine, but the removal comes last
        if self.max_keep_ckpts > 0 and not (
                len(self.keep_ckpt_ids) > 0
                and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                to_remove.append(
                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        # a stop signal's checkpoint (save_now) goes once this one is in
        to_remove += runner.message_hub.get_info(EXTRA_CKPTS, [])
        runner.message_hub.update_info(EXTRA_CKPTS, [])
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # a run resumed from this checkpoint finishes the removals
        runner.message_hub.update_info(PENDING_REMOVAL, to_remove)
        self._save_atomically(
            runner, self.out_dir, ckpt_filename,
            file_client_args=self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        runner.message_hub.update_info(PENDING_REMOVAL, [])
        if not is_main_process():
            return
        self._write_last_checkpoint(runner, self.last_ckpt)
        self._remove([n for n in to_remove if n != ckpt_filename])

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's best-checkpoint logic, with atomic writes and the
        previous best removed only after the new one is in place."""
        if not self._atomic:
            return super()._save_best_checkpoint(runner, metrics)
        with self._deferred_removals() as removals, \
                self._atomic_runner_saves(runner) as written:
            super()._save_best_checkpoint(runner, metrics)
        if is_main_process():
            # not a file just written under the same name (same epoch)
            for path in set(removals.paths) - set(written):
                if osp.isfile(path):
                    os.remove(path)

    @contextlib.contextmanager
    def _deferred_removals(self):
        backend = self.file_backend
        self.file_backend = _DeferredRemovals(backend)
        try:
            yield self.file_backend
        finally:
            self.file_backend = backend

    @contextlib.contextmanager
    def _atomic_runner_saves(self, runner):
        # MMEngine's best-checkpoint code calls runner.save_checkpoint
        written = []

        def save(out_dir, filename, *args, **kwargs):
            names = ('file_client_args', 'save_optimizer',
                     'save_param_scheduler', 'meta', 'by_epoch',
                     'backend_args')
            kwargs.update(zip(names, args))
            self._save_atomically(runner, out_dir, filename, **kwargs)
            written.append(self.file_backend.join_path(out_dir, filename))

        runner.save_checkpoint = save
        try:
            yield written
        finally:
            del runner.save_checkpoint
