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
  engine.json          how the engine was made, when it says (`gan_jax.recipe`; the CLI: the experiment)
  config_changes.jsonl what a resume changed in it, with the step (only when a resume changed something)
  data.json            what the data was (source, number of samples, shape); resume checks it
  metrics.jsonl        one row per `log_interval`: means of every metric the engine returns, iterations/s
  tensorboard/         the same scalars for TensorBoard (tensorboardX)
  samples/step_N.png   the preview (a 4x4 grid at a fixed z by default) every `sample_interval`
  curves.png           every metric against the iteration (written when the run stops, however it stops)
  scores.jsonl         a preview's scores at every sample step, if it keeps any (`MixturePreview`, a preset's own)
  accuracy.png         a classifying D's curve of its held-out accuracy (`gan_jax.semi_supervised`)
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

import dataclasses
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import parallel, previews, recipes, rundir, sampling, viz, xla
from gan_jax import signals as signals_lib
from gan_jax.checkpoint import Checkpoints
from gan_jax.metrics_log import MetricsLog, Plateau
from gan_jax.rundir import DiskFull, RunError  # what a caller of fit catches, with Stopped below
from gan_jax.signals import Interrupted, Stopped  # noqa: F401 (re-exported: gan_jax.run.Interrupted)


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss or parameter."""


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


def _array(data):
    """The arrays the engine trains on: an array, or a tuple of arrays of one length ((images, labels))."""
    return data.images if hasattr(data, "images") else data


def _first(data):
    return jax.tree.leaves(data)[0]


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
        default `previews.GridPreview(engine)`.
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
    run_dir, key = Path(run_dir), rundir.typed_key(key)
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
    info = rundir.describe_data(data)
    primary = parallel.primary()
    mesh = getattr(engine, "parallel", None)
    replicate = mesh.replicate if mesh is not None else (lambda tree: tree)

    made_by = recipes.record(engine)  # how another process rebuilds the engine (engine.json)

    def record_config() -> None:
        if primary and config is not None:
            rundir.write_atomic(run_dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        if primary and made_by is not None:
            rundir.write_atomic(run_dir / "engine.json", json.dumps(made_by, indent=2, sort_keys=True) + "\n")

    with rundir.RunLock(run_dir) as lock:  # released however fit ends
        if resume and run_dir.is_dir() and rundir.unfinished_start(run_dir) and not rundir.has_rows(run_dir / "metrics.jsonl"):
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
            step, state, checkpoints = rundir.restore(run_dir, engine, key, keep_checkpoints)
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
                rundir.record_config_changes(run_dir, config, step)
            record_config()
            if primary:
                print(f"resuming {run_dir} from step {step}", flush=True)
        else:
            plateau_history = []
            rundir.check_new(run_dir)
            existed = run_dir.exists()  # an empty directory the user made: keep it, but nothing in it
            parallel.barrier("run directory checked")  # before the primary writes in it
            if primary:
                rundir.make(run_dir)
                lock.acquire()  # two starts racing on one directory: the second stops here, touching nothing
                rundir.check_new(run_dir)
                if any(p.name != rundir.LOCK for p in run_dir.iterdir()):  # what a start cut short left
                    print(f"clearing {run_dir}: an earlier start there was cut short before its first checkpoint",
                          flush=True)
                    rundir.clear(run_dir)
            previous = signal.signal(signal.SIGTERM, signals_lib.interrupt) if signals_lib.main_thread() else None
            try:
                record_config()
                if primary:
                    rundir.write_atomic(run_dir / "data.json", json.dumps(info, indent=2) + "\n")
                parallel.barrier("run directory made")
                # a copy: the loop donates the state, which must not delete arrays the caller still holds
                state = replicate(jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, engine.init(key)))
                # saves are written beside training (the loop's next save, or its end, waits for them)
                checkpoints = Checkpoints(run_dir / "checkpoints", keep_checkpoints, asynchronous=True)
                checkpoints.save(0, state)
                checkpoints.wait()
            except BaseException:  # nothing half-written: the run did not get its first checkpoint
                if primary:
                    rundir.clear(run_dir)
                    if not existed:
                        lock.release()
                        shutil.rmtree(run_dir, ignore_errors=True)
                raise
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        with signals_lib.interruptible():
            outcome = _loop(engine, images, run_dir, state, checkpoints, replicate, primary, steps, fuse,
                            log_interval, sample_interval, checkpoint_interval, early_stop_window, early_stop_tol,
                            progress, previews.of(preview, engine), on_finish,
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
            if rundir.is_disk_full(e):
                raise rundir.disk_full(run_dir, checkpoints, checkpoints.failed or step, "saving a checkpoint") from None
            raise

    try:
        with signals_lib.Signals() as signals:
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
        rundir.settle(checkpoints)
        good = checkpoints.steps()
        raise NonFiniteLoss(f"{e}; training stopped. The last good checkpoint is step {good[-1] if good else None} "
                            f"in {run_dir / 'checkpoints'}; try lower learning rates") from None
    except DiskFull:
        raise
    except Exception as e:  # a log write (metrics, TensorBoard, a grid) on a full disk
        if rundir.is_disk_full(e):
            raise rundir.disk_full(run_dir, checkpoints, step, "writing the logs") from None
        raise
    finally:
        log.close()
        rundir.settle(checkpoints)  # a save in flight when something else went wrong: that error is the one to report
        checkpoints.close()
        if primary:
            preview.close()
            if (run_dir / "metrics.jsonl").exists():
                try:
                    viz.save_curves(viz.read_metrics(run_dir / "metrics.jsonl"), run_dir / "curves.png", name,
                                    tuple(getattr(engine, "panels", ()) or ()))
                except OSError as e:  # a full disk: the run's own error says so
                    if not rundir.is_disk_full(e):
                        raise
    local = parallel.local(state)
    if stopped_by is None and primary and on_finish is not None:
        on_finish(local, run_dir)
    return Outcome(run_dir, step, reason, log.last, last_grid, stopped_by, headline, local)
