"""The metrics log of a run: metrics.jsonl, TensorBoard, the progress bar or lines, and early stopping's
plateau test (`gan_jax.run.fit` writes through it)."""

from __future__ import annotations

import collections
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from gan_jax import viz
from gan_jax.rundir import write_atomic


def _open_log(path: Path, start_step: int):
    """Opens a JSON-lines log for appending, first dropping rows after `start_step` (a resume from an
    earlier checkpoint repeats those steps)."""
    if path.exists():  # a torn last row is dropped (read_metrics skips it): its steps are redone
        kept = [r for r in viz.read_metrics(path) if r.get("step", start_step + 1) <= start_step]
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
    return open(path, "a")


class Plateau:
    """Early stopping: the mean of each watched metric over the last `window` steps vs the `window` before.

    Stops when every one moved by less than `tol` relative to the earlier mean (the book's advice: watch
    the losses and stop where they flatten).
    """

    def __init__(self, window: int, tol: float):
        self.window, self.tol = window, tol
        self.history: collections.deque = collections.deque(maxlen=2 * window)

    def update(self, *losses: np.ndarray) -> bool:
        if not self.window:
            return False
        self.history.extend(zip(*(x.tolist() for x in losses)))
        if len(self.history) < 2 * self.window:
            return False
        h = np.asarray(self.history)
        before, after = h[: self.window].mean(0), h[self.window :].mean(0)
        return bool(np.all(np.abs(after - before) <= self.tol * np.maximum(np.abs(before), 1e-8)))


QUIET_S = 30.0  # without a progress bar (no terminal), a progress line at the first call after this long


def _duration(seconds: float) -> str:
    """2 h 05 min, 7 min, 40 s.

    >>> _duration(7500), _duration(420), _duration(40)
    ('2 h 05 min', '7 min', '40 s')
    """
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{int(seconds // 60)} min" if seconds >= 60 else f"{int(seconds)} s"


class MetricsLog:
    """metrics.jsonl + TensorBoard + progress bar; rows are means over `log_interval` steps (and one at the
    run's last step, over the steps since the row before)."""

    def __init__(self, run_dir: Path, total: int, log_interval: int, start_step: int, progress: bool,
                 headline: tuple[str, ...] | None, write: bool = True, sample_interval: int = 0):
        self.total, self.log_interval, self.headline = total, log_interval, headline
        self.path = run_dir / "metrics.jsonl"
        self.file = self.tb = None  # `write` False (a secondary process): keeps the numbers, writes nothing
        if write:
            from tensorboardX import SummaryWriter

            self.file = _open_log(self.path, start_step)
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)
        self.sums: dict[str, float] = collections.defaultdict(float)
        self.count = 0
        self.last: dict = {}
        self.clock = self.said = time.perf_counter()
        self.quiet_s, self.sample_interval = QUIET_S, sample_interval
        self.bar = None
        if write and progress and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start_step, unit="it", dynamic_ncols=True)

    def restart_clock(self) -> None:
        self.clock = time.perf_counter()

    def shown(self, metrics: dict) -> tuple[str, ...]:
        """The names of `metrics` a log line shows.

        Args:
          metrics: a dict of metrics.

        Returns:
          The headline's names present in it (all of them without a headline).

        >>> # log.shown(row)
        """
        return tuple(n for n in (self.headline or tuple(metrics)) if n in metrics)

    def add(self, step: int, metrics: dict[str, np.ndarray]) -> None:
        """Takes the metrics of the steps ending at `step`, and writes a row every log_interval.

        Args:
          step: the step reached. metrics: name -> array of length `fuse`.

        Returns:
          None.

        >>> # log.add(100, {"d_loss": np.ones(1)})
        """
        k = len(next(iter(metrics.values())))
        for name, values in metrics.items():
            self.sums[name] += float(values.sum())
        self.count += k
        if self.bar is not None:
            self.bar.update(k)
            self.bar.set_postfix({name: f"{metrics[name][-1]:.3f}" for name in self.shown(metrics)}, refresh=False)
        now = time.perf_counter()
        row = self._row(step, now)
        if step % self.log_interval == 0 or step == self.total:  # the last steps of a run are logged too
            if self.file is not None:
                self.file.write(json.dumps(row) + "\n")
                self.file.flush()
                self._check_tensorboard()
                for name, value in row.items():
                    if name != "step":
                        self.tb.add_scalar(name, value, step)
            self.last, self.sums, self.count, self.clock = row, collections.defaultdict(float), 0, now

    def _row(self, step: int, now: float) -> dict:
        """The means of the metrics added since the last row, and the it/s over them."""
        return {"step": step, **{n: s / self.count for n, s in self.sums.items()},
                "it_per_s": self.count / max(now - self.clock, 1e-9)}

    def heartbeat(self, step: int) -> None:
        """Without a progress bar, a progress line when none was printed for quiet_s: called once the metrics
        fetched in one transfer are all added, so its it/s covers every step since the last row (called per
        step inside such a batch, a line could count one step over the whole wait).

        Args:
          step: the step the metrics added so far reach.

        Returns:
          None.

        >>> # log.heartbeat(35300)
        """
        now = time.perf_counter()
        if (self.bar is not None or now - self.said <= self.quiet_s or step >= self.total
                or (self.sample_interval and step % self.sample_interval == 0)):  # a sample step prints its own
            return
        row = self._row(step, now) if self.count else self.last
        if row:
            self.say(self.line(step, row))

    def line(self, step: int, row: dict, tail: str = "") -> str:
        """A progress line: the step, the headline metrics of `row`, it/s, the time left and `tail`.

        Args:
          step: the step reached. row: a metrics row (with it_per_s). tail: appended words.

        Returns:
          The line.

        >>> # log.line(1000, log.last, "-> samples/step_001000.png")
        """
        shown = "  ".join(f"{n} {row[n]:.4f}" for n in self.shown(row) if n not in ("step", "it_per_s"))
        seconds = (self.total - step) / max(row["it_per_s"], 1e-9)
        left = f"  about {_duration(seconds)} left" if step < self.total else ""
        return f"step {step}/{self.total}  {shown}  {row['it_per_s']:.1f} it/s{left}" + (f"  {tail}" if tail else "")

    def _check_tensorboard(self) -> None:
        """tensorboardX writes in a thread that dies on a write error (a full disk); adding to its full queue
        would then block for ever, so a dead writer stops the run instead."""
        worker = getattr(getattr(getattr(self.tb, "file_writer", None), "event_writer", None), "_worker", None)
        if worker is None or worker.is_alive():
            return
        import errno

        free = shutil.disk_usage(self.path.parent).free
        if free < 64 * 2**20:
            raise OSError(errno.ENOSPC, f"No space left on device (TensorBoard's writer stopped; {free} bytes free)")
        raise OSError(errno.EIO, "TensorBoard's event writer thread stopped (a write failed); the run stops here")

    def say(self, text: str) -> None:
        """Prints a line (above the progress bar when there is one; only on the primary process).

        Args:
          text: the line.

        Returns:
          None.

        >>> # log.say("compiled in 2.8s")
        """
        if self.bar is not None:
            self.bar.write(text)
        elif self.file is not None:
            print(text, flush=True)
        self.said = time.perf_counter()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.file is not None:
            self.file.close()
            self.tb.close()
