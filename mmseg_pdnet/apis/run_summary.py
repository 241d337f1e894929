# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""What the video tool tells while it runs and at the end: the progress
of each clip and, per clip, frames, speed, time per stage (decode, model,
render/encode) and status, and the summary table of a many-input run."""
import sys
from dataclasses import dataclass
from time import perf_counter
from typing import Optional, Sequence

#: the stages of the pipeline, as the summary names them
STAGES = ('decode', 'model', 'render/encode')


@dataclass
class ClipReport:
    """The outcome of one clip.

    The three stages run in parallel (decoding and encoding in their own
    threads), so the slowest of them bounds the speed.

    Attributes:
        name (str): The clip, as the user gave it.
        frames (int): Frames written.
        seconds (float): Wall time of the clip, decoding to the last
            encoded frame.
        decode_s (float): Seconds the reader thread spent decoding.
        model_s (float): Seconds of the main loop, without its waits for
            the reader and the writer: preprocessing, the network,
            the mask.
        render_s (float): Seconds the writer thread spent rendering and
            encoding.
        status (str): ``'ok'``, ``'failed'``, ``'stopped'`` (the preview
            was closed) or ``'skipped'`` (not started).
        error (str, optional): The one-line error of a failed clip.
        index (int): Position in the whole (sorted) input list, from 1.
        rank (int): The process that did it (distributed runs).
    """
    name: str
    frames: int = 0
    seconds: float = 0.0
    decode_s: float = 0.0
    model_s: float = 0.0
    render_s: float = 0.0
    status: str = 'ok'
    error: Optional[str] = None
    index: int = 1
    rank: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def ms_per_frame(self) -> tuple:
        """Milliseconds per frame of each of :data:`STAGES`."""
        n = max(self.frames, 1)
        return tuple(1000 * s / n for s in (self.decode_s, self.model_s,
                                            self.render_s))

    def stage_line(self) -> str:
        """One line: the time per frame of each stage and which bounds the
        speed, e.g. ``per frame: decode 2.1 ms, model 35.0 ms,
        render/encode 4.2 ms (the model bounds the speed)``."""
        ms = self.ms_per_frame()
        parts = ', '.join(f'{stage} {t:.1f} ms'
                          for stage, t in zip(STAGES, ms))
        bound = STAGES[max(range(3), key=lambda i: ms[i])]
        what = 'the model' if bound == 'model' else bound
        return f'per frame: {parts} ({what} bounds the speed)'


def format_table(reports: Sequence[ClipReport], ranks: bool = False) -> str:
    """The summary table of a run, one row per clip and a total row.

    Columns: file, frames, frames/s, the milliseconds per frame of decode,
    model and render/encode, status (and the rank, with ``ranks``). The
    total's frames/s adds up the clips' times: in a distributed run the
    ranks work at once, so the run as a whole was faster.

    Args:
        reports (Sequence[ClipReport]): The clips, in input order.
        ranks (bool): Add a column with the rank of each clip. Defaults to
            False.

    Returns:
        str: A plain-text table (no trailing newline).
    """
    head = ('file', 'frames', 'frames/s', 'decode ms', 'model ms',
            'render ms', 'status') + (('rank', ) if ranks else ())
    rows = []
    for r in reports:
        done = r.frames > 0
        ms = r.ms_per_frame()
        rows.append((r.name, str(r.frames), f'{r.fps:.1f}' if done else '-',
                     *((f'{t:.1f}' for t in ms) if done else ('-',) * 3),
                     r.status) + ((str(r.rank), ) if ranks else ()))
    frames = sum(r.frames for r in reports)
    seconds = sum(r.seconds for r in reports)
    ok = sum(r.status == 'ok' for r in reports)
    rows.append(('total', str(frames),
                 f'{frames / seconds:.1f}' if seconds > 0 else '-',
                 '', '', '', f'{ok}/{len(reports)} ok') +
                (('', ) if ranks else ()))
    widths = [max(len(row[i]) for row in rows + [head])
              for i in range(len(head))]

    def line(row):
        # names and status left-aligned, numbers right-aligned
        return '  '.join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths))
                         ).rstrip()

    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([line(head), rule] + [line(r) for r in rows[:-1]] +
                     [rule, line(rows[-1])])


class WaitTimer:
    """Iterate over ``iterable``, adding up the seconds spent waiting for
    its items (:attr:`wait_s`): how long a consumer was held up by, e.g.,
    a :class:`~.video_io.PrefetchIterator` that had no frame ready.

    Args:
        iterable (Iterable): The items.
    """

    def __init__(self, iterable):
        self._iterator = iter(iterable)
        self.wait_s = 0.0

    def __iter__(self) -> 'WaitTimer':
        return self

    def __next__(self):
        start = perf_counter()
        try:
            return next(self._iterator)
        finally:
            self.wait_s += perf_counter() - start


class Progress:
    """Frames done, frames/s and ETA, on stderr.

    On a terminal: one status line rewritten in place (at most ~10 times a
    second). Elsewhere (a log file, a pipe, CI) carriage returns would make
    one huge line, so a plain line is printed every ``every`` frames and
    a summary line at the end.

    Args:
        total (int, optional): Frames expected (for the ETA).
        stream (file, optional): Defaults to ``sys.stderr``.
        every (int): Frames between two lines when ``stream`` is not a
            terminal. Defaults to 100.
        prefix (str): Put before every line (``'[2/5] b.mp4: '`` in
            many-input runs). Defaults to none.
    """

    def __init__(self, total=None, stream=None, every=100, prefix=''):
        self.total, self.stream = total, stream or sys.stderr
        self.every, self.prefix = every, prefix
        isatty = getattr(self.stream, 'isatty', None)
        self.tty = bool(isatty and isatty())
        self.start = perf_counter()
        self.done, self._last_draw = 0, 0.0

    def rate(self, done=None):
        """Frames per second so far."""
        elapsed = perf_counter() - self.start
        done = self.done if done is None else done
        return done / elapsed if elapsed > 0 else 0.0

    def message(self, done):
        fps = self.rate(done)
        if self.total:
            eta = max(0, self.total - done) / fps if fps > 0 else 0.0
            return (f'{self.prefix}{done}/{self.total} frames, {fps:.1f} '
                    f'frames/s, ETA {eta:.0f} s')
        return f'{self.prefix}{done} frames, {fps:.1f} frames/s'

    def update(self, done):
        self.done = done
        if self.tty:
            now = perf_counter()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self.stream.write('\r' + self.message(done))
                self.stream.flush()
        elif done % self.every == 0:
            self.stream.write(self.message(done) + '\n')
            self.stream.flush()

    def finish(self):
        elapsed = perf_counter() - self.start
        summary = (f'{self.prefix}{self.done} frames in {elapsed:.1f} s, '
                   f'{self.rate():.1f} frames/s')
        self.stream.write(('\r' + summary + '\x1b[K\n') if self.tty
                          else summary + '\n')
        self.stream.flush()
