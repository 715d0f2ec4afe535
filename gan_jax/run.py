"""Training runs on disk: the run directory, the compiled step loop, its outputs, and resuming.

A run directory holds:
  config.json          the resolved config (data.source is the source really used, never "auto")
  data.json            what the data really was (source, number of images, shape)
  metrics.jsonl        one row per `log_interval`: means of D/G losses and D accuracies, iterations/s
  tensorboard/         the same scalars for TensorBoard (tensorboardX)
  samples/step_N.png   4x4 grids at a fixed z every `sample_interval`
  curves.png           loss and accuracy curves (written when the run stops, however it stops)
  checkpoints/N/       orbax checkpoints every `checkpoint_interval`, at step 0 and at the end

Nothing is created before the config, the data and the run directory have been checked; a fresh run that
fails before its first checkpoint removes its directory. Metrics are fetched one compiled call behind, so
the host never waits for the device except at sample and checkpoint steps. A non-finite loss stops the run
without checkpointing the bad state. SIGINT/SIGTERM finish the current call, save a checkpoint and return.

Over several processes (`gan-jax train --distributed`, `gan_jax.parallel`) every process runs the same loop
and calls orbax; only the primary writes the other files and makes previews and reports.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import jax
import numpy as np

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import mixtures, parallel, viz
from gan_jax.checkpoint import CheckpointMismatch, Checkpoints
from gan_jax.config import Config
from gan_jax.autoencode import Autoencoder
from gan_jax.train import GAN, all_finite

GRID_SIZE = 16  # the book's 4x4


def trainer(cfg: Config, sample_shape: tuple[int, ...]) -> GAN | Autoencoder:
    """The engine for `cfg`: the two-player GAN, or the one-player autoencoder (model.name ae, vae, ...).
    Both have init, advance_jit, sample_jit, noise, finish (called when training ends) and `headline`
    (the metrics a log line shows)."""
    return Autoencoder(cfg, sample_shape) if cfg.autoencoder else GAN(cfg, sample_shape)


class RunError(RuntimeError):
    """The run directory cannot be used as asked (exists, unwritable, nothing to resume, ...)."""


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss or parameter."""


@dataclasses.dataclass
class Outcome:
    run_dir: Path
    step: int
    reason: str  # "done", "early_stop" or "signal:<NAME>"
    last: dict  # the last metrics row
    last_grid: Path | None
    signum: int | None = None  # the signal that stopped the run; None when it was not stopped by one
    headline: tuple[str, ...] = ("d_loss", "g_loss")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _open_log(path: Path, start_step: int):
    """Opens a JSON-lines log for appending, first dropping rows after `start_step` (a resume from an
    earlier checkpoint repeats those steps)."""
    if path.exists():
        kept = [r for r in viz.read_metrics(path) if r["step"] <= start_step]
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
    return open(path, "a")


def default_run_dir(experiment: str) -> Path:
    return Path("runs") / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}"


class Plateau:
    """Early stopping: the mean losses (D's and G's, or the autoencoder's) of the last `window` steps vs
    the `window` before.

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


class MetricsLog:
    """metrics.jsonl + TensorBoard + progress bar; rows are means over `log_interval` steps."""

    def __init__(self, run_dir: Path, cfg: Config, start_step: int, progress: bool, headline: tuple[str, ...],
                 write: bool = True):
        self.cfg, self.headline = cfg, headline
        self.path = run_dir / "metrics.jsonl"
        self.file = self.tb = None  # `write` False (a secondary process): keeps the numbers, writes nothing
        if write:
            from tensorboardX import SummaryWriter

            self.file = _open_log(self.path, start_step)
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)
        self.sums: dict[str, float] = collections.defaultdict(float)
        self.count = 0
        self.last: dict = {}
        self.clock = time.perf_counter()
        self.bar = None
        if write and progress and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=cfg.train.steps, initial=start_step, unit="it", dynamic_ncols=True)

    def restart_clock(self) -> None:
        self.clock = time.perf_counter()

    def add(self, step: int, metrics: dict[str, np.ndarray]) -> None:
        """Takes the metrics of the steps ending at `step` (arrays of length train.fuse)."""
        k = len(next(iter(metrics.values())))
        for name, values in metrics.items():
            self.sums[name] += float(values.sum())
        self.count += k
        if self.bar is not None:
            self.bar.update(k)
            shown = {name: f"{metrics[name][-1]:.3f}" for name in self.headline}
            if "d_acc_real" in metrics:
                shown["d_acc"] = f"{50 * (metrics['d_acc_real'][-1] + metrics['d_acc_fake'][-1]):.0f}%"
            self.bar.set_postfix(shown, refresh=False)
        if step % self.cfg.train.log_interval == 0:
            now = time.perf_counter()
            row = {"step": step, **{n: s / self.count for n, s in self.sums.items()}}
            row["it_per_s"] = self.count / max(now - self.clock, 1e-9)
            if self.file is not None:
                self.file.write(json.dumps(row) + "\n")
                self.file.flush()
                for name, value in row.items():
                    if name != "step":
                        self.tb.add_scalar(name, value, step)
            self.last, self.sums, self.count, self.clock = row, collections.defaultdict(float), 0, now

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        elif self.file is not None:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.file is not None:
            self.file.close()
            self.tb.close()


class Preview:
    """What a run shows at each sample step, from a fixed z: the book's 4x4 grid for images; for a
    Gaussian mixture, 2,500 samples over the modes with the protocol's scores (also in scores.jsonl)."""

    def __init__(self, cfg: Config, gan: GAN, data_kind: str, run_dir: Path, start_step: int):
        self.gan, self.run_dir = gan, run_dir
        self.mixture = mixtures.MIXTURES.get(data_kind)
        n = mixtures.PROTOCOL_SAMPLES if self.mixture else GRID_SIZE
        self.z = gan.noise(jax.random.key(cfg.sample_seed), n)
        (run_dir / "samples").mkdir(exist_ok=True)
        self.scores = _open_log(run_dir / "scores.jsonl", start_step) if self.mixture else None

    def __call__(self, state, step: int) -> tuple[Path, str]:
        """Writes samples/step_N.png; returns its path and a few words on it."""
        x = np.asarray(self.gan.sample_jit(state, self.z))
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        if self.mixture is None:
            return viz.save_grid(x, path), ""
        s = mixtures.scores(x, self.mixture)
        self.scores.write(json.dumps({"step": step, **s}) + "\n")
        self.scores.flush()
        words = f"modes {s['modes']}/{s['of_modes']}, high quality {100 * s['high_quality']:.1f}%, reverse KL {s['reverse_kl']:.3f}"
        return viz.save_points(x, self.mixture.means, self.mixture.std, path, f"step {step}: {words}"), words

    def close(self) -> None:
        if self.scores is not None:
            self.scores.close()


class _Signals:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current call."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping", flush=True)

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _load_data(cfg: Config) -> tuple[Config, data_lib.Dataset]:
    ds = data_lib.load(cfg.data)
    per_batch = cfg.train.batch_size * (1 if cfg.autoencoder else cfg.gan.pack)
    if ds.images.shape[0] < per_batch and cfg.data.sampling == "epoch":
        raise config_lib.ConfigError(
            f"train.batch_size: {per_batch} samples per batch (x gan.pack) is more than the "
            f"{ds.images.shape[0]} images of {ds.source}; epoch sampling needs at least one full batch"
        )
    resolved = dataclasses.replace(cfg.data, source=ds.kind)  # record the source really used
    return dataclasses.replace(cfg, data=resolved), ds


def _check_new_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunError(f"run directory {run_dir} already exists and is not empty; "
                       "pass --resume to continue it, or choose another --run-dir")


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write the run directory {run_dir}: {e.strerror or e}; choose another --run-dir") from None


def start(cfg: Config, run_dir: str | Path | None = None, progress: bool = True) -> Outcome:
    """Trains a fresh run of `cfg` into `run_dir` (default runs/<experiment>-<time>)."""
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.experiment)
    _check_new_run_dir(run_dir)
    cfg, ds = _load_data(cfg)
    existed = run_dir.exists()  # an empty directory the user made: keep it, but nothing in it
    parallel.barrier("run directory checked")  # before the primary writes in it
    primary = parallel.primary()
    if primary:
        _make_run_dir(run_dir)
    try:
        if primary:
            write_atomic(run_dir / "config.json", config_lib.to_json(cfg))
            write_atomic(run_dir / "data.json", json.dumps(ds.describe(), indent=2) + "\n")
        parallel.barrier("run directory made")
        gan = trainer(cfg, ds.image_shape)
        state = gan.parallel.replicate(gan.init())
        checkpoints = Checkpoints(run_dir / "checkpoints", cfg.train.keep_checkpoints)
        checkpoints.save(0, state)
    except BaseException:  # nothing half-written: the run did not get its first checkpoint
        if primary:
            shutil.rmtree(run_dir, ignore_errors=True)
            if existed:
                run_dir.mkdir()
        raise
    return _loop(cfg, run_dir, ds, gan, state, checkpoints, progress)


def load_run_config(run_dir: str | Path) -> Config:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    try:
        return config_lib.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def restore(run_dir: str | Path, cfg: Config, gan: GAN | Autoencoder):
    """(step, state, checkpoints) from the newest good checkpoint of `run_dir`."""
    checkpoints = Checkpoints(Path(run_dir) / "checkpoints", cfg.train.keep_checkpoints)
    try:
        found = checkpoints.restore(gan.init())
    except CheckpointMismatch as e:
        checkpoints.close()
        raise RunError(str(e)) from None
    if found is None:
        checkpoints.close()
        raise RunError(f"{run_dir} has no checkpoint that loads; start a fresh run instead of --resume")
    return (*found, checkpoints)


def resume(run_dir: str | Path, overrides: list[str] = (), progress: bool = True) -> Outcome:
    """Continues the run in `run_dir` from its newest good checkpoint (`overrides`, e.g. a longer
    train.steps, apply on top of the saved config)."""
    run_dir = Path(run_dir)
    cfg = config_lib.apply_overrides(load_run_config(run_dir), list(overrides))
    cfg, ds = _load_data(cfg)
    recorded = json.loads((run_dir / "data.json").read_text())
    if recorded["n"] != ds.images.shape[0] or recorded["image_shape"] != list(ds.image_shape):
        raise RunError(f"the data changed since the run started: recorded {recorded}, now {ds.describe()}")
    gan = trainer(cfg, ds.image_shape)
    step, state, checkpoints = restore(run_dir, cfg, gan)
    state = gan.parallel.replicate(state)
    if parallel.primary():
        write_atomic(run_dir / "config.json", config_lib.to_json(cfg))  # with the overrides, once restorable
        print(f"resuming {run_dir} from step {step}", flush=True)
    return _loop(cfg, run_dir, ds, gan, state, checkpoints, progress)


CONV_MODELS = ("dcgan", "conv_ae")


def scan_note(cfg: Config, backend: str) -> str | None:
    """A warning for convolutional models fused with lax.scan on XLA:CPU, which runs their steps far slower
    inside a scan (DCGAN: 0.05 it/s at train.fuse=5 vs 3.7 at 1; docs/speed.md); None otherwise."""
    if backend != "cpu" or cfg.train.fuse == 1 or cfg.model.name not in CONV_MODELS:
        return None
    return (f"note: train.fuse={cfg.train.fuse} runs {cfg.model.name} steps inside lax.scan, which XLA:CPU runs "
            f"far slower than single steps (docs/speed.md); --set train.fuse=1 is faster here")


def _loop(cfg: Config, run_dir: Path, ds: data_lib.Dataset, gan: GAN | Autoencoder, state, checkpoints: Checkpoints,
          progress: bool) -> Outcome:
    t = cfg.train
    step = int(state.step)
    images = gan.parallel.replicate(jax.device_put(ds.images))  # the state is already replicated
    primary = parallel.primary()
    preview = Preview(cfg, gan, ds.kind, run_dir, step) if primary else None
    log = MetricsLog(run_dir, cfg, step, progress, gan.headline, write=primary)
    where = ""
    if gan.parallel.n > 1:
        hosts = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
        where = f"{gan.parallel.n} {jax.devices()[0].platform} devices{hosts}, "
    log.say(f"training {cfg.experiment} on {ds.source} ({ds.images.shape[0]} images) into {run_dir}; "
            f"{where}steps {step} -> {t.steps}")
    if note := scan_note(cfg, jax.default_backend()):
        log.say(note)
    plateau = Plateau(t.early_stop_window, t.early_stop_tol)
    last_grid, reason, early, stopped_by = None, "done", False, None

    def take(pending) -> None:
        nonlocal early
        at, metrics = pending
        metrics = jax.device_get(metrics)
        bad = [n for n, v in metrics.items() if not np.all(np.isfinite(v))]
        if bad:
            first = at - len(metrics[bad[0]]) + 1 + int(np.argmin(np.isfinite(metrics[bad[0]])))
            raise NonFiniteLoss(f"non-finite {', '.join(bad)} at step {first}")
        log.add(at, metrics)
        early = plateau.update(*(metrics[name] for name in gan.headline)) or early

    try:
        with _Signals() as signals:
            pending = None
            compile_start = time.perf_counter()
            while step < t.steps:
                state, metrics = gan.advance_jit(state, images)
                step += t.fuse
                if compile_start is not None:  # the first call compiles; keep it out of it/s
                    jax.block_until_ready(metrics)
                    log.say(f"compiled in {time.perf_counter() - compile_start:.1f}s")
                    compile_start = None
                    log.restart_clock()
                if pending is not None:
                    take(pending)
                pending = (step, metrics)
                sample = step % t.sample_interval == 0 or step == t.steps
                # over several processes, compared at log steps only: no host round trip at every call
                requested = parallel.agree(signals.signum is not None, sync=step % t.log_interval == 0)
                stop = requested or early
                if sample or stop or step % t.checkpoint_interval == 0:
                    take(pending)
                    pending = None
                    stop = requested or early
                    if sample and primary:
                        last_grid, words = preview(parallel.local(state), step)
                        r = log.last
                        if r:
                            acc = f"d_acc {50 * (r['d_acc_real'] + r['d_acc_fake']):.1f}%  " if "d_acc_real" in r else ""
                            losses = "  ".join(f"{name} {r[name]:.4f}" for name in gan.headline)
                            log.say(f"step {step}/{t.steps}  {losses}  {acc}"
                                    f"{r['it_per_s']:.1f} it/s  {words + '  ' if words else ''}-> {last_grid}")
                    if stop or step % t.checkpoint_interval == 0 or step == t.steps:
                        if not bool(all_finite(state)):
                            raise NonFiniteLoss(f"non-finite parameters after step {step}")
                        checkpoints.save(step, state)
                    if stop:
                        if early:
                            reason = "early_stop"
                            log.say(f"losses flattened over {t.early_stop_window} steps: stopping early at step {step}")
                        else:  # a process stopped by another's signal reports SIGTERM
                            stopped_by = signals.signum or signal.SIGTERM
                            reason = f"signal:{signal.Signals(stopped_by).name}"
                        break
            if pending is not None:
                take(pending)
    except NonFiniteLoss as e:
        good = checkpoints.steps()
        raise NonFiniteLoss(f"{e}; training stopped. The last good checkpoint is step {good[-1] if good else None} "
                            f"in {run_dir / 'checkpoints'}; try lower optim.g_lr / optim.d_lr") from None
    finally:
        log.close()
        checkpoints.close()
        if preview is not None:
            preview.close()
            if (run_dir / "metrics.jsonl").exists():
                viz.save_curves(viz.read_metrics(run_dir / "metrics.jsonl"), run_dir / "curves.png", cfg.experiment)
    if stopped_by is None and primary:
        gan.finish(parallel.local(state), run_dir)
    return Outcome(run_dir, step, reason, log.last, last_grid, stopped_by, gan.headline)


SAMPLE_WEIGHTS = ("auto", "live", "ema")


def weights_used(cfg: Config, weights: str) -> str:
    """Which of G's weights `weights` ("auto", "live" or "ema") picks in a run of `cfg`: "auto" is the
    moving average when the run keeps one (a GAN with gan.ema_decay > 0) and the trained weights otherwise."""
    has_ema = not cfg.autoencoder and cfg.gan.ema_decay > 0
    if weights not in SAMPLE_WEIGHTS:
        raise RunError(f"--weights must be one of {', '.join(SAMPLE_WEIGHTS)}, got {weights!r}")
    if weights == "ema" and not has_ema:
        raise RunError("this run keeps no moving average of G's weights (gan.ema_decay = 0); use --weights live or auto")
    if weights == "auto":
        return "ema" if has_ema else "live"
    return weights


def sample(run_dir: str | Path, n: int, seed: int = 0, batch: int = 1000, weights: str = "auto") -> np.ndarray:
    """`n` images (N x H x W x C float32 in [-1, 1]) from the newest good checkpoint of `run_dir`, with G's
    `weights` as `weights_used` resolves them (BatchNorm's running statistics are the trained G's either way)."""
    if n <= 0:
        raise RunError(f"--n must be > 0, got {n}")
    cfg = load_run_config(run_dir)
    live = weights_used(cfg, weights) == "live"
    shape = tuple(json.loads((Path(run_dir) / "data.json").read_text())["image_shape"])
    gan = trainer(cfg, shape)
    step, state, checkpoints = restore(run_dir, cfg, gan)
    checkpoints.close()
    if live and not cfg.autoencoder:
        state = state.replace(g_ema=None)  # GAN.sample uses g_params when no average is kept
    key = jax.random.key(seed)
    batch = min(batch, n)
    out = [
        np.asarray(gan.sample_jit(state, gan.noise(jax.random.fold_in(key, i), batch)))
        for i in range(-(-n // batch))
    ]
    return np.concatenate(out)[:n]
