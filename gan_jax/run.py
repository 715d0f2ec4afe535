"""`fit(engine, data, run_dir=..., steps=...)`: one run loop for any engine, with everything on disk.

An engine is anything with

    init(key) -> state               a pytree holding an integer step (attribute `.step` or key "step")
    train_step(state, data) -> (state, metrics)   pure; metrics a dict of scalars; data the whole dataset
    sample(state, z) -> samples      and noise(key, n) -> z: what preview grids show

and optionally `compact_data` (True: `fit` may store 4-d float images that hold only pixel values as uint8
on the device, for an engine that draws its batches through `gan_jax.sampling.draw`, which turns them back
into the same floats; otherwise the engine receives the data as given), `headline` (the metric names a log
line shows; default all), `plateau` (what early stopping watches; default headline), `panels` (metric names
drawn on one curve panel), `parallel` (a `gan_jax.parallel.DataParallel`: state and data are replicated
over its mesh) and `check_data(shape)`.
`gan_jax.GAN` and `gan_jax.Autoencoder` are two; a user's engine with these methods runs the same way, and
`gan_jax.Seeds(engine, n)` trains n seeds of one in the same loop (stacked states, one compiled call).

A run directory holds:
  config.json          what the caller recorded (the CLI: the resolved config), if anything
  config_changes.jsonl what a resume changed in it, with the step (only when a resume changed something)
  data.json            what the data was (source, number of samples, shape); resume checks it
  metrics.jsonl        one row per `log_interval`: means of every metric the engine returns, iterations/s
  tensorboard/         the same scalars for TensorBoard (tensorboardX)
  samples/step_N.png   the preview (a 4x4 grid at a fixed z by default) every `sample_interval`
  curves.png           every metric against the iteration (written when the run stops, however it stops)
  scores.jsonl         a preview's scores at every sample step, if it keeps any (`MixturePreview`, `ClassifierPreview`)
  accuracy.png         `ClassifierPreview`'s curve of D's held-out accuracy
  checkpoints/N/       orbax checkpoints every `checkpoint_interval`, at step 0 and at the end

Nothing is created before the run directory has been checked; a fresh run that fails before its first
checkpoint removes what it wrote. Metrics stay on the device until a log, sample or checkpoint step (or
30 s without one, for the progress line), so the host waits for the device and copies from it only there.
A non-finite metric stops the run (at the next such step, naming the step it appeared) without
checkpointing the bad state. SIGINT/SIGTERM finish the current call, save a checkpoint and return. Resuming (`resume=True`)
continues from the newest good checkpoint and is bitwise the uninterrupted run (each step's batch and noise
come from `fold_in(key, step)`).

Over several processes (`gan-jax train --distributed`, `gan_jax.parallel`) every process runs the same loop
and calls orbax; only the primary writes the other files and makes previews.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import mixtures, parallel, sampling, viz, xla
from gan_jax.checkpoint import CheckpointMismatch, Checkpoints, DamagedArrays
from gan_jax.config import flat
from gan_jax.players import main
from gan_jax.seeds import Seeds, summarise

GRID_SIZE = 16  # the book's 4x4
SAMPLE_SEED = 1234


class RunError(RuntimeError):
    """The run directory cannot be used as asked (exists, unwritable, nothing to resume, ...)."""


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss or parameter."""


class DiskFull(RuntimeError):
    """A checkpoint or log write found no space left; the run stopped with its last complete checkpoint."""


def _is_disk_full(e: BaseException) -> bool:
    """ENOSPC, however the storage layer wraps it (TensorStore raises ValueErrors naming it)."""
    import errno

    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left on device" in str(e)


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _settle(checkpoints) -> None:
    """Waits for a save in progress to end, whatever its outcome (the caller is already reporting an error)."""
    try:
        checkpoints.wait()
    except Exception:  # its step is then not on disk, and not listed as done
        pass


def _disk_full(run_dir: Path, checkpoints, step: int, what: str) -> DiskFull:
    """The DiskFull to raise: the unfinished save removed, how much space is free and what a save takes."""
    _settle(checkpoints)
    checkpoints.remove_unfinished()
    done = checkpoints.steps()
    need = _folder_bytes(run_dir / "checkpoints" / str(done[-1])) if done else 0
    free = shutil.disk_usage(run_dir).free
    return DiskFull(f"no space left on the device of {run_dir} while {what} at step {step} ({free / 2**20:.0f} MB "
                    f"free; a checkpoint takes about {need / 2**20:.1f} MB). The last good checkpoint is step "
                    f"{done[-1] if done else None}; free some space and resume")


@dataclasses.dataclass
class Outcome:
    """What `fit` returns: where, how far, why it stopped, the last metrics row and preview."""

    run_dir: Path
    step: int
    reason: str  # "done", "early_stop" or "signal:<NAME>"
    last: dict  # the last metrics row
    last_grid: Path | None
    signum: int | None = None  # the signal that stopped the run; None when it was not stopped by one
    headline: tuple[str, ...] = ()
    state: Any = None  # the final state (host-local)


def write_atomic(path: Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename (never half a file).

    Args:
      path: the file. text: its content.

    Returns:
      None.

    >>> # write_atomic(Path("runs/x/config.json"), text)
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@jax.jit
def all_finite(tree) -> jax.Array:
    """Whether every float leaf of a pytree is finite.

    Args:
      tree: a pytree (a state).

    Returns:
      A boolean scalar array.

    >>> bool(all_finite({"a": jnp.ones(2), "b": jnp.zeros(())}))
    True
    """
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def step_of(state) -> int:
    """The step a state is at.

    Args:
      state: an engine's state: `state.step`, or `state["step"]` for a dict; stacked states
        (`gan_jax.Seeds`) hold one step per seed, all equal.

    Returns:
      An int.

    >>> step_of({"step": jnp.asarray(3)})
    3
    >>> step_of({"step": jnp.asarray([5, 5])})
    5
    """
    steps = np.unique(np.asarray(state["step"] if isinstance(state, dict) else state.step))
    if steps.size != 1:
        raise ValueError(f"the stacked state's seeds are at different steps {steps.tolist()}")
    return int(steps[0])


def repeat(train_step: Callable, k: int) -> Callable:
    """`k` iterations of `train_step` as one function (`lax.scan` for k > 1); metrics get a leading axis.

    Args:
      train_step: (state, data) -> (state, metrics).
      k: iterations per call.

    Returns:
      (state, data) -> (state, metrics stacked along a new first axis of length k).

    >>> # state, metrics = jax.jit(repeat(gan.train_step, 10))(state, images)
    """
    if k == 1:
        def once(state, data):
            state, metrics = train_step(state, data)
            return state, jax.tree.map(lambda m: m[None], metrics)

        return once
    return lambda state, data: jax.lax.scan(lambda s, _: train_step(s, data), state, None, length=k)


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


class GridPreview:
    """The default preview: the engine's samples at a fixed z, a 4x4 grid of images (or, for points, a
    scatter), written to samples/step_N.png under a title (the run, the step, and `caption` if given)."""

    def __init__(self, engine, n: int = GRID_SIZE, seed: int = SAMPLE_SEED, caption: str = ""):
        self.engine, self.n, self.seed, self.caption = engine, n, seed, caption
        self.sample = xla.jit(engine.sample)

    def open(self, run_dir: Path, start_step: int) -> None:
        """Prepares samples/ and the fixed z (`fit` calls it before the first step).

        Args:
          run_dir: the run. start_step: where the run starts.

        Returns:
          None.

        >>> # preview.open(Path("runs/x"), 0)
        """
        self.run_dir = run_dir
        grid = getattr(self.engine, "grid_noise", None)  # a conditional GAN's: one row per class
        key = jax.random.key(self.seed)
        self.z, self.cols = grid(key, self.n) if grid is not None else (self.engine.noise(key, self.n), None)
        (run_dir / "samples").mkdir(exist_ok=True)

    def __call__(self, state, step: int) -> tuple[Path, str]:
        """Writes samples/step_N.png (one grid per seed for `Seeds`); returns its path and a few words on it."""
        x = np.asarray(main(self.sample(state, self.z)))  # a conditional GAN's samples: (images, labels)
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        if x.ndim == 4 + isinstance(self.engine, Seeds):
            title = f"{self.run_dir.name}  step {step:,}" + (f"  ({self.caption})" if self.caption else "")
            return viz.save_grid(x, path, self.cols, title=title), ""
        return viz.save_points(x, np.zeros((0, x.shape[-1] if x.ndim > 1 else 1)), 0.0, path, f"step {step}"), ""

    def close(self) -> None:
        pass


class ScoredPreview(GridPreview):
    """A GridPreview that also keeps scores.jsonl, one JSON row per preview step (`write`); a resume
    drops the rows after the step it starts from."""

    def open(self, run_dir: Path, start_step: int) -> None:
        """As GridPreview's, and opens scores.jsonl (rows after `start_step` dropped).

        Args:
          run_dir: the run. start_step: where the run starts.

        Returns:
          None.

        >>> # preview.open(Path("runs/x"), 0)
        """
        super().open(run_dir, start_step)
        self.scores = _open_log(run_dir / "scores.jsonl", start_step)

    def write(self, row: dict) -> None:
        """Appends one row to scores.jsonl.

        Args:
          row: {"step": ..., score: value, ...}.

        Returns:
          None.

        >>> # preview.write({"step": 1000, "modes": 8})
        """
        self.scores.write(json.dumps(row) + "\n")
        self.scores.flush()

    def close(self) -> None:
        self.scores.close()


class MixturePreview(ScoredPreview):
    """For a Gaussian mixture: 2,500 samples over its modes, with the PacGAN protocol's scores (also
    appended to scores.jsonl) at every preview step."""

    def __init__(self, engine, mixture: mixtures.Mixture, seed: int = SAMPLE_SEED):
        super().__init__(engine, mixtures.PROTOCOL_SAMPLES, seed)
        self.mixture = mixture

    def __call__(self, state, step: int) -> tuple[Path, str]:
        x = np.asarray(main(self.sample(state, self.z)))
        if isinstance(self.engine, Seeds):  # the mean over seeds, and every seed's scores
            per_seed = [mixtures.scores(xi, self.mixture) for xi in x]
            s, _ = summarise(per_seed)
            row = {"step": step, **s, "per_seed": per_seed}
        else:
            s = row = {"step": step, **mixtures.scores(x, self.mixture)}
        self.write(row)
        of = " (mean of seeds)" if isinstance(self.engine, Seeds) else ""
        words = (f"modes {s['modes']:g}/{s['of_modes']:g}, high quality {100 * s['high_quality']:.1f}%, "
                 f"reverse KL {s['reverse_kl']:.3f}{of}")
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        return viz.save_points(x, self.mixture.means, self.mixture.std, path, f"step {step}: {words}"), words


class ClassifierPreview(ScoredPreview):
    """For a GAN whose D is a classifier (a semi-supervised GAN): the grid, and D's accuracy on labelled
    held-out images at every preview step, appended to scores.jsonl and drawn in accuracy.png (with D's
    moving average when the run keeps one, the trained weights' beside it; for `Seeds` the mean, its
    standard error and every seed's). The images are only scored, never trained on.

    Args:
      engine: a GAN with `classify` (`gan_jax.metrics.has_classifier`), or `Seeds` of one.
      images, labels: the held-out set (e.g. the test split). seed, caption: as GridPreview's.

    >>> # fit(sgan, data, run_dir="runs/sgan", steps=20_000, preview=ClassifierPreview(sgan, x_test, y_test))
    """

    def __init__(self, engine, images, labels, seed: int = SAMPLE_SEED, caption: str = ""):
        super().__init__(engine, seed=seed, caption=caption)
        self.images, self.labels = images, np.asarray(labels)

    def __call__(self, state, step: int) -> tuple[Path, str]:
        from gan_jax import metrics

        path, _ = super().__call__(state, step)
        row: dict = {"step": step}
        for name, value in metrics.classifier_scores(self.engine, state, self.images, self.labels).items():
            if name.endswith("_per_seed"):  # as metrics.jsonl's seed columns, which save_curves draws thin
                row.update({f"{name.removesuffix('_per_seed')}/seed{i}": a for i, a in enumerate(value)})
            elif name != "weights" and (name.endswith("accuracy") or isinstance(self.engine, Seeds)):  # no s.e. of one
                row[name] = value
        self.write(row)
        rows = [{k: v for k, v in r.items() if not k.endswith("_se")} for r in viz.read_metrics(self.run_dir / "scores.jsonl")]
        viz.save_curves(rows, self.run_dir / "accuracy.png", f"{self.run_dir.name}: D's accuracy on "
                        f"{len(self.labels)} held-out images", (("test_accuracy", "live_test_accuracy"),))
        spread = f" ± {100 * row['test_accuracy_se']:.2f}" if "test_accuracy_se" in row else ""
        averaged = " (D's moving average)" if state.d_ema is not None else ""
        return path, f"D's test accuracy {100 * row['test_accuracy']:.2f}%{spread}{averaged}"


def _interrupt(signum, frame):
    """SIGTERM during a run's start-up, or a signal once training has ended (the curves, the report): unwind
    like Ctrl-C (`Interrupted`), so that a start leaves nothing behind and a finished run says so."""
    raise Interrupted(signum)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _Signals:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current call; a second one stops at
    once, except during a checkpoint save (`saving()`), which it lets finish first."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}
        self._saving = self._urgent = False

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping (a second "
                  "Ctrl-C stops at once, losing the steps since the last checkpoint)", flush=True)
        elif self._saving:
            self._urgent = True
            print("\nstopping as soon as the checkpoint being written is complete", flush=True)
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def saving(self):
        """A checkpoint save that a second signal does not cut short (it stops the run right after).

        Returns:
          A context manager.

        >>> # with signals.saving(): checkpoints.save(step, state)
        """
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
        if self._urgent:
            raise KeyboardInterrupt

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM after training ended, while the run writes its curves and report: the final
    checkpoint is saved, and `--resume` writes what was cut short. `signum` is the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stopped(Interrupted):
    """`fit` was stopped by SIGINT/SIGTERM during training: a checkpoint of the step it reached is saved
    (`outcome.step`), and `fit(..., resume=True)` continues the run. `outcome` is the `Outcome`."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.signum)
        self.outcome = outcome
        self.args = (f"{signal.Signals(outcome.signum).name}: training stopped at step {outcome.step} with a "
                     f"checkpoint in {outcome.run_dir}; fit(..., resume=True) continues it",)


@contextlib.contextmanager
def _interruptible():
    """SIGINT/SIGTERM raise `Interrupted` inside the block (SIGTERM's default action would end the process
    without a word); the loop's own `_Signals` takes over while it trains. Only in the main thread."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _record_config_changes(run_dir: Path, config: dict | None, step: int) -> None:
    """On resume, what differs from the recorded config.json: printed, and appended to config_changes.jsonl
    ({"step", "changed": {key: [before, after]}}) before config.json is overwritten."""
    path = run_dir / "config.json"
    if config is None or not path.is_file():
        return
    try:
        before = flat(json.loads(path.read_text()))
    except json.JSONDecodeError:
        return
    after = flat(json.loads(json.dumps(config)))
    changed = {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after))
               if before.get(k) != after.get(k)}
    if not changed:
        return
    with open(run_dir / "config_changes.jsonl", "a") as f:
        f.write(json.dumps({"step": step, "changed": changed}) + "\n")
    listed = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items())
    print(f"resuming with a changed config from step {step}: {listed} (recorded in config_changes.jsonl)", flush=True)


LOCK = ".lock"  # held (flock) by the process training into a run directory
PROBE = ".write-test"  # a start's writability check, PROBE.PID: each process its own


RUN_FILES = {"config.json", "data.json", "metrics.jsonl", "tensorboard", "samples", "checkpoints", "curves.png",
             LOCK}  # what a start writes before its first checkpoint (and a little more; and PROBE.PID)


def _unfinished_start(run_dir: Path) -> bool:
    """A run directory whose start was cut short: only what a run writes, and no checkpoint (not even step
    0's). Anything else in it (a user's file) and it is not cleared."""
    steps = run_dir / "checkpoints"
    if any(p.name not in RUN_FILES and not p.name.startswith(PROBE) for p in run_dir.iterdir()):
        return False
    return not (steps.is_dir() and any(p.is_dir() and p.name.isdigit() for p in steps.iterdir()))


def _clear_run_dir(run_dir: Path) -> None:
    """Deletes everything in a run directory but its lock (what a start cut short, or failed, wrote)."""
    for p in run_dir.iterdir() if run_dir.is_dir() else ():
        if p.name != LOCK:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _has_rows(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _check_new_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        return
    if not run_dir.is_dir() or (any(p.name != LOCK for p in run_dir.iterdir()) and not _unfinished_start(run_dir)):
        raise RunError(f"run directory {run_dir} already exists and is not empty; "
                       "pass --resume (resume=True) to continue it, or choose another run directory")


class _RunLock:
    """An exclusive lock on a run directory for as long as a process trains into it (released when the
    process exits, however it exits), so that two runs never write into one directory."""

    def __init__(self, run_dir: Path):
        self.path, self.file = run_dir / LOCK, None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: no guard
            return
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            owner = self.file.read().strip() or "another process"
            self.file.close()
            self.file = None
            raise RunError(f"{self.path.parent} is in use: a run ({owner}) is training into it; wait for it to "
                           "finish or stop it, or choose another run directory") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()}")
        self.file.flush()

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing releases the flock
            self.file = None

    def __enter__(self) -> "_RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f"{PROBE}.{os.getpid()}"  # its own: two starts at once must not unlink each other's
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write the run directory {run_dir}: {e.strerror or e}; choose another") from None


def describe_data(data) -> dict:
    """data.json's content.

    Args:
      data: a `gan_jax.data.Dataset` (or `Labelled`), an array, or a tuple (images, labels).

    Returns:
      {"source", "n", "image_shape"} (and "labelled": True for labelled data; for data of several parts,
      "parts": each part's description, and n and image_shape those of the first).

    >>> describe_data(np.zeros((5, 2)))["image_shape"]
    [2]
    """
    if hasattr(data, "describe"):
        return data.describe()
    if isinstance(data, (dict, sampling.Parts)):  # several parts (Unpaired domains, a dict of paired arrays)
        parts = {str(k): describe_data(v) for k, v in (data.items() if isinstance(data, dict) else enumerate(data))}
        first = next(iter(parts.values()))
        kind = "unpaired" if isinstance(data, (sampling.Unpaired, sampling.Parts)) else "paired"
        return {"source": kind, "n": first["n"], "image_shape": first["image_shape"], "parts": parts}
    if isinstance(data, tuple):  # (images, labels): labelled arrays
        return {**describe_data(data[0]), "source": "arrays", "labelled": True}
    return {"source": "array", "n": int(data.shape[0]), "image_shape": list(data.shape[1:])}


def _array(data):
    """The arrays the engine trains on: an array, or a tuple of arrays of one length ((images, labels))."""
    return data.images if hasattr(data, "images") else data


def _first(data):
    return jax.tree.leaves(data)[0]


def _typed(key: Any):
    return jax.random.key(key) if isinstance(key, int) else key


def restore(run_dir: str | Path, engine, key: Any = 0, keep: int = 3, read_only: bool = False):
    """The newest good checkpoint of a run.

    Args:
      run_dir: the run. engine: gives the state's structure (`engine.init(key)`; an int key is
        jax.random.key(key)). keep: checkpoints kept when the manager saves later.
      read_only: change nothing in the run (a damaged step is skipped, not moved aside; a read-only copy
        works): for reading a run, not training it.

    Returns:
      (step, state, the open `Checkpoints`); RunError when none loads or the model differs.

    >>> # step, state, ckpts = restore("runs/x", gan); ckpts.close()
    """
    key = _typed(key)
    try:
        checkpoints = Checkpoints(Path(run_dir) / "checkpoints", keep, read_only=read_only)
    except FileNotFoundError:
        raise RunError(f"{run_dir} has no checkpoints folder; is it a run directory?") from None
    try:
        found = checkpoints.restore(engine.init(key))
    except (CheckpointMismatch, DamagedArrays) as e:
        checkpoints.close()
        raise RunError(str(e)) from None
    if found is None:
        checkpoints.close()
        raise RunError(f"{run_dir} has no checkpoint that loads; start a fresh run instead of resuming")
    return (*found, checkpoints)


def _check_intervals(steps: int, fuse: int, **intervals: int) -> None:
    if fuse < 1 or steps < 0:
        raise ValueError(f"fuse must be >= 1 and steps >= 0, got fuse={fuse}, steps={steps}")
    for name, value in intervals.items():
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def _chunk(step: int, total: int, fuse: int, *intervals: int) -> int:
    """The iterations of the next compiled call: `fuse`, or fewer to land on the next multiple of an interval
    (a log, sample or checkpoint step) or on the last step.

    >>> _chunk(0, 10, 4, 5), _chunk(4, 10, 4, 5), _chunk(5, 10, 4, 5), _chunk(0, 50, 100, 500)
    (4, 1, 4, 50)
    """
    boundary = min([total, *((step // n + 1) * n for n in intervals)])
    return min(fuse, boundary - step)


def fit(engine, data, *, run_dir: str | Path, steps: int, key: Any = 0, fuse: int = 1, log_interval: int = 100,
        sample_interval: int = 1000, checkpoint_interval: int = 1000, keep_checkpoints: int = 3,
        early_stop_window: int = 0, early_stop_tol: float = 0.02, resume: bool | str = False, progress: bool = True,
        preview=None, on_finish: Callable | None = None, config: dict | None = None, name: str | None = None,
        notes: tuple[str, ...] = (), on_signal: str = "raise") -> Outcome:
    """Trains `engine` on `data` into `run_dir`: checkpoints, resume, previews, metrics, curves, progress.

    Args:
      engine: anything meeting the protocol in this module's docstring (`gan_jax.GAN`, `gan_jax.Autoencoder`).
      data: the dataset, an array N x ... (images in [-1, 1]), a `gan_jax.data.Dataset`, or for a conditional
        GAN the tuple (images, labels) (`gan_jax.data.Labelled(dataset)`).
      run_dir: the run directory (new or empty; with resume=True, an existing run).
      steps: train until this step (a resumed run continues to it).
      key: what `engine.init` takes: a typed key (an int seed is jax.random.key(seed)), or `gan_jax.Streams`.
      fuse: iterations per compiled call (`repeat`); the call before a log, sample or checkpoint step, or
        the last step, runs fewer when they are not multiples of it (compiled once per length).
      log_interval, sample_interval, checkpoint_interval: in steps. keep_checkpoints: the newest kept.
      early_stop_window, early_stop_tol: stop when the `plateau` metrics' means over the last window moved
        less than tol relative to the window before (0 = off).
      resume: True: continue the run in `run_dir` from its newest good checkpoint; "auto": continue it when
        `run_dir` holds a run (its data.json), start it otherwise; False: start a new run.
      progress: a progress bar on a terminal.
      preview: an object with open(run_dir, start_step), __call__(state, step) -> (path, words), close();
        default `GridPreview(engine)`.
      on_finish: called as on_finish(state, run_dir) when training ends (not when stopped by a signal).
      config: a JSON-able dict recorded as config.json (at the start, and again when a resume restored).
      name: what log lines call the run. notes: lines printed at the start.
      on_signal: what a SIGINT/SIGTERM during training does once its checkpoint is saved: "raise" `Stopped`
        (a KeyboardInterrupt holding the Outcome: a script cannot mistake a stopped run for a finished one)
        or "return" the Outcome (its `signum` set; what the `gan-jax` command does).

    Returns:
      An `Outcome` (step reached, why it stopped, last metrics row, last preview, final state).

    Example:
      >>> # outcome = gj.fit(gan, images, run_dir="runs/mine", steps=2000, key=jax.random.key(0))
      >>> # gj.fit(gan, images, run_dir="runs/mine", steps=4000, resume=True)   # later: train longer
    """
    run_dir, key = Path(run_dir), _typed(key)
    _check_intervals(steps, fuse, log_interval=log_interval, sample_interval=sample_interval,
                     checkpoint_interval=checkpoint_interval)
    if resume not in (True, False, "auto") or on_signal not in ("raise", "return"):
        raise ValueError(f"resume must be True, False or 'auto' (got {resume!r}); on_signal 'raise' or 'return' "
                         f"(got {on_signal!r})")
    if resume == "auto":
        resume = (run_dir / "data.json").is_file()
    images = _array(data)
    if hasattr(engine, "check_data"):
        engine.check_data(tuple(_first(images).shape[1:]))
    info = describe_data(data)
    primary = parallel.primary()
    mesh = getattr(engine, "parallel", None)
    replicate = mesh.replicate if mesh is not None else (lambda tree: tree)

    def record_config() -> None:
        if primary and config is not None:
            write_atomic(run_dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")

    with _RunLock(run_dir) as lock:  # released however fit ends
        if resume and run_dir.is_dir() and _unfinished_start(run_dir) and not _has_rows(run_dir / "metrics.jsonl"):
            if primary:
                print(f"{run_dir} holds no checkpoint yet (its start was cut short): starting it fresh", flush=True)
            resume = False
        if resume:
            if primary and run_dir.is_dir():
                lock.acquire()
            recorded_path = run_dir / "data.json"
            if not recorded_path.is_file():
                hint = ("an earlier start was cut short before its first checkpoint; start it fresh (without --resume, "
                        "resume=False), which clears it") if run_dir.is_dir() else "no such directory"
                raise RunError(f"{run_dir} is not a run directory to resume (no data.json): {hint}")
            recorded = json.loads(recorded_path.read_text())
            if (recorded["n"] != info["n"] or recorded["image_shape"] != info["image_shape"]
                    or ("parts" in recorded and recorded["parts"] != info.get("parts"))):  # older runs: no parts
                raise RunError(f"the data changed since the run started: recorded {recorded}, now {info}")
            step, state, checkpoints = restore(run_dir, engine, key, keep_checkpoints)
            if steps < step:
                checkpoints.close()
                raise RunError(f"steps={steps} is below the step the run reached, {step}: resuming trains until "
                               f"`steps`; to train longer give more (--set train.steps=N with N > {step})")
            plateau_history = checkpoints.extra(step).get("plateau", [])
            # orbax's arrays come back committed to a device, the re-wrapped PRNG keys do not: the same on every
            # leaf, or the step compiles twice (once for the restored state, once for its own outputs)
            if jax.process_count() == 1:
                state = jax.device_put(state, jax.local_devices()[0])
            state = replicate(state)
            if primary:
                _record_config_changes(run_dir, config, step)
            record_config()
            if primary:
                print(f"resuming {run_dir} from step {step}", flush=True)
        else:
            plateau_history = []
            _check_new_run_dir(run_dir)
            existed = run_dir.exists()  # an empty directory the user made: keep it, but nothing in it
            parallel.barrier("run directory checked")  # before the primary writes in it
            if primary:
                _make_run_dir(run_dir)
                lock.acquire()  # two starts racing on one directory: the second stops here, touching nothing
                _check_new_run_dir(run_dir)
                if any(p.name != LOCK for p in run_dir.iterdir()):  # what a start cut short left
                    print(f"clearing {run_dir}: an earlier start there was cut short before its first checkpoint",
                          flush=True)
                    _clear_run_dir(run_dir)
            previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
            try:
                record_config()
                if primary:
                    write_atomic(run_dir / "data.json", json.dumps(info, indent=2) + "\n")
                parallel.barrier("run directory made")
                # a copy: the loop donates the state, which must not delete arrays the caller still holds
                state = replicate(jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, engine.init(key)))
                # saves are written beside training (the loop's next save, or its end, waits for them)
                checkpoints = Checkpoints(run_dir / "checkpoints", keep_checkpoints, asynchronous=True)
                checkpoints.save(0, state)
                checkpoints.wait()
            except BaseException:  # nothing half-written: the run did not get its first checkpoint
                if primary:
                    _clear_run_dir(run_dir)
                    if not existed:
                        lock.release()
                        shutil.rmtree(run_dir, ignore_errors=True)
                raise
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        with _interruptible():
            outcome = _loop(engine, images, run_dir, state, checkpoints, replicate, primary, steps, fuse,
                            log_interval, sample_interval, checkpoint_interval, early_stop_window, early_stop_tol,
                            progress, preview if preview is not None else GridPreview(engine), on_finish,
                            name or run_dir.name, notes, plateau_history)
    if outcome.signum is not None and on_signal == "raise":
        raise Stopped(outcome)
    return outcome


def _loop(engine, images, run_dir: Path, state, checkpoints: Checkpoints, replicate, primary: bool, total: int,
          fuse: int, log_interval: int, sample_interval: int, checkpoint_interval: int, window: int, tol: float,
          progress: bool, preview, on_finish, name: str, notes, plateau_history=()) -> Outcome:
    step = step_of(parallel.local(state))
    compiled: dict[int, Callable] = {}

    def advance(state, images, n: int):  # n iterations in one call, compiled once per n
        if n not in compiled:
            compiled[n] = xla.jit(repeat(engine.train_step, n), donate_argnums=0)
        return compiled[n](state, images)

    if getattr(engine, "compact_data", False):  # it draws through sampling.draw: uint8 pixels come back as floats
        images = sampling.compact(images)
    images = replicate(jax.device_put(images))  # the state is replicated too
    headline = tuple(getattr(engine, "headline", None) or ())
    watched = tuple(getattr(engine, "plateau", None) or headline)
    if primary:
        preview.open(run_dir, step)
    log = MetricsLog(run_dir, total, log_interval, step, progress, headline or None, write=primary,
                     sample_interval=sample_interval)
    mesh = getattr(engine, "parallel", None)
    used = mesh.n if mesh is not None else 1
    hosts = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
    kind = jax.devices()[0].device_kind
    where = (f"{used} {jax.devices()[0].platform} device{'s' * (used > 1)} ({kind}){hosts} of "
             f"{jax.device_count()}, ")  # the backend in use, always: a GPU box that fell back to CPU says so
    log.say(f"training {name} ({_first(images).shape[0]} samples) into {run_dir}; {where}steps {step} -> {total}")
    for note in notes:
        log.say(note)
    plateau = Plateau(window, tol)
    plateau.history.extend(tuple(h) for h in plateau_history)
    last_grid, reason, early, stopped_by = None, "done", False, None

    def take(pending: list) -> None:
        """The metrics of the calls since the last fetch, fetched in one transfer, checked and logged call
        by call (the plateau too, so its verdict does not depend on when they were fetched)."""
        nonlocal early, watched
        if not pending:
            return
        for at, metrics in zip([at for at, _ in pending], jax.device_get([m for _, m in pending])):
            bad = [n for n, v in metrics.items() if not np.all(np.isfinite(v))]
            if bad:
                first = at - len(metrics[bad[0]]) + 1 + int(np.argmin(np.isfinite(metrics[bad[0]])))
                raise NonFiniteLoss(f"non-finite {', '.join(bad)} at step {first}")
            log.add(at, metrics)
            if window:
                watched = watched or tuple(metrics)
                early = plateau.update(*(metrics[n] for n in watched)) or early
        log.heartbeat(pending[-1][0])
        pending.clear()

    def saving(write) -> None:
        """A checkpoint write (a save, or waiting for one): a second signal does not cut it short, and a full
        disk stops the run naming the step that could not be saved."""
        try:
            with signals.saving():
                write()
        except Exception as e:
            if _is_disk_full(e):
                raise _disk_full(run_dir, checkpoints, checkpoints.failed or step, "saving a checkpoint") from None
            raise

    try:
        with _Signals() as signals:
            # metrics stay on the device until a log, sample or checkpoint step (or QUIET_S without one):
            # the host neither waits for the device nor copies from it at every call
            pending: list = []
            compile_start, fetched = time.perf_counter(), time.perf_counter()
            while step < total:
                n = _chunk(step, total, fuse, log_interval, sample_interval, checkpoint_interval)
                state, metrics = advance(state, images, n)
                step += n
                if compile_start is not None:  # the first call compiles; keep it out of it/s
                    jax.block_until_ready(metrics)
                    log.say(f"compiled in {time.perf_counter() - compile_start:.1f}s")
                    compile_start = None
                    log.restart_clock()
                pending.append((step, metrics))
                sample = step % sample_interval == 0 or step == total
                boundary = sample or step % log_interval == 0 or step % checkpoint_interval == 0
                # over several processes, compared at log steps only: no host round trip at every call
                requested = parallel.agree(signals.signum is not None, sync=step % log_interval == 0)
                if boundary or requested or time.perf_counter() - fetched > log.quiet_s:
                    take(pending)
                    fetched = time.perf_counter()
                stop = requested or (early and boundary)  # early stopping at a step that does not hang on timing
                if sample or stop or step % checkpoint_interval == 0:
                    if sample and primary:
                        last_grid, words = preview(parallel.local(state), step)
                        if log.last:
                            log.say(log.line(step, log.last, f"{words + '  ' if words else ''}-> {last_grid}"))
                    if stop or step % checkpoint_interval == 0 or step == total:
                        if not bool(all_finite(state)):
                            raise NonFiniteLoss(f"non-finite parameters after step {step}")
                        # early stopping's history too: a resume stops where this would
                        saving(lambda: checkpoints.save(step, state, {"plateau": [list(h) for h in plateau.history]}
                                                        if window else None))
                    if stop:
                        if early:
                            reason = "early_stop"
                            log.say(f"the watched metrics flattened over {window} steps: stopping early at step {step}")
                        else:  # a process stopped by another's signal reports SIGTERM
                            stopped_by = signals.signum or signal.SIGTERM
                            reason = f"signal:{signal.Signals(stopped_by).name}"
                        break
            take(pending)
            saving(checkpoints.wait)  # the last save, written while the loop went on
    except NonFiniteLoss as e:
        _settle(checkpoints)
        good = checkpoints.steps()
        raise NonFiniteLoss(f"{e}; training stopped. The last good checkpoint is step {good[-1] if good else None} "
                            f"in {run_dir / 'checkpoints'}; try lower learning rates") from None
    except DiskFull:
        raise
    except Exception as e:  # a log write (metrics, TensorBoard, a grid) on a full disk
        if _is_disk_full(e):
            raise _disk_full(run_dir, checkpoints, step, "writing the logs") from None
        raise
    finally:
        log.close()
        _settle(checkpoints)  # a save in flight when something else went wrong: that error is the one to report
        checkpoints.close()
        if primary:
            preview.close()
            if (run_dir / "metrics.jsonl").exists():
                try:
                    viz.save_curves(viz.read_metrics(run_dir / "metrics.jsonl"), run_dir / "curves.png", name,
                                    tuple(getattr(engine, "panels", ()) or ()))
                except OSError as e:  # a full disk: the run's own error says so
                    if not _is_disk_full(e):
                        raise
    local = parallel.local(state)
    if stopped_by is None and primary and on_finish is not None:
        on_finish(local, run_dir)
    return Outcome(run_dir, step, reason, log.last, last_grid, stopped_by, headline, local)
