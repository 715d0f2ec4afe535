"""The run directory: what a run writes where, its lock, a fresh start's checks and cleanup, the record of
its data and config changes, and restoring its newest good checkpoint (`gan_jax.run.fit` uses it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax

from gan_jax import sampling
from gan_jax.checkpoint import CheckpointMismatch, Checkpoints, DamagedArrays
from gan_jax.config import flat


class RunError(RuntimeError):
    """The run directory cannot be used as asked (exists, unwritable, nothing to resume, ...)."""


class DiskFull(RuntimeError):
    """A checkpoint or log write found no space left; the run stopped with its last complete checkpoint."""


def is_disk_full(e: BaseException) -> bool:
    """Whether an error is a full disk (ENOSPC), however the storage layer wraps it (TensorStore raises
    ValueErrors naming it).

    Args:
      e: the error.

    Returns:
      True for a full disk or quota.

    >>> import errno
    >>> is_disk_full(OSError(errno.ENOSPC, "x")), is_disk_full(ValueError("No space left on device")), is_disk_full(OSError())
    (True, True, False)
    """
    import errno

    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left on device" in str(e)


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def settle(checkpoints) -> None:
    """Waits for a save in progress to end, whatever its outcome (the caller is already reporting an error).

    Args:
      checkpoints: the run's `Checkpoints`.

    Returns:
      None.

    >>> settle(type("Saving", (), {"wait": lambda self: 1 / 0})())   # its error is not the one to report
    """
    try:
        checkpoints.wait()
    except Exception:  # its step is then not on disk, and not listed as done
        pass


def disk_full(run_dir: Path, checkpoints, step: int, what: str) -> DiskFull:
    """The DiskFull to raise: the unfinished save removed, how much space is free and what a save takes.

    Args:
      run_dir: the run. checkpoints: its `Checkpoints`. step: where it stopped. what: what was being written.

    Returns:
      A DiskFull naming the last good checkpoint.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "checkpoints").mkdir()
    >>> checkpoints = Checkpoints(folder / "checkpoints", 3)
    >>> str(disk_full(folder, checkpoints, 1200, "saving a checkpoint")).startswith("no space left")
    True
    >>> checkpoints.close()
    """
    settle(checkpoints)
    checkpoints.remove_unfinished()
    done = checkpoints.steps()
    need = _folder_bytes(run_dir / "checkpoints" / str(done[-1])) if done else 0
    free = shutil.disk_usage(run_dir).free
    return DiskFull(f"no space left on the device of {run_dir} while {what} at step {step} ({free / 2**20:.0f} MB "
                    f"free; a checkpoint takes about {need / 2**20:.1f} MB). The last good checkpoint is step "
                    f"{done[-1] if done else None}; free some space and resume")


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


def record_config_changes(run_dir: Path, config: dict | None, step: int) -> None:
    """On resume, what differs from the recorded config.json: printed, and appended to config_changes.jsonl
    ({"step", "changed": {key: [before, after]}}) before config.json is overwritten.

    Args:
      run_dir: the run. config: the config now (None: nothing to compare). step: where the resume starts.

    Returns:
      None.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"train": {"steps": 10}}')
    >>> record_config_changes(folder, {"train": {"steps": 20}}, 10)
    resuming with a changed config from step 10: train.steps: 10 -> 20 (recorded in config_changes.jsonl)
    """
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


RUN_FILES = {"config.json", "engine.json", "data.json", "metrics.jsonl", "tensorboard", "samples", "checkpoints", "curves.png",
             LOCK}  # what a start writes before its first checkpoint (and a little more; and PROBE.PID)


def unfinished_start(run_dir: Path) -> bool:
    """Whether a run directory holds a start that was cut short: only what a run writes, and no checkpoint
    (not even step 0's). Anything else in it (a user's file) and it is not cleared.

    Args:
      run_dir: an existing directory.

    Returns:
      True when a fresh start may clear it.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "data.json").write_text("{}")
    >>> unfinished_start(folder)
    True
    """
    steps = run_dir / "checkpoints"
    if any(p.name not in RUN_FILES and not p.name.startswith(PROBE) for p in run_dir.iterdir()):
        return False
    return not (steps.is_dir() and any(p.is_dir() and p.name.isdigit() for p in steps.iterdir()))


def clear(run_dir: Path) -> None:
    """Deletes everything in a run directory but its lock (what a start cut short, or failed, wrote).

    Args:
      run_dir: the run directory.

    Returns:
      None.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "data.json").write_text("{}")
    >>> clear(folder); list(folder.iterdir())
    []
    """
    for p in run_dir.iterdir() if run_dir.is_dir() else ():
        if p.name != LOCK:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def has_rows(path: Path) -> bool:
    """Whether a log file exists and holds anything.

    Args:
      path: the file.

    Returns:
      A bool.

    >>> has_rows(Path("no/such/metrics.jsonl"))
    False
    """
    return path.is_file() and path.stat().st_size > 0


def check_new(run_dir: Path) -> None:
    """Checks that a fresh run may start in `run_dir`: it does not exist, is empty, or holds only a start
    cut short; RunError otherwise.

    Args:
      run_dir: the run directory.

    Returns:
      None.

    >>> check_new(Path("no/such/run"))
    """
    if not run_dir.exists():
        return
    if not run_dir.is_dir() or (any(p.name != LOCK for p in run_dir.iterdir()) and not unfinished_start(run_dir)):
        raise RunError(f"run directory {run_dir} already exists and is not empty; "
                       "pass --resume (resume=True) to continue it, or choose another run directory")


class RunLock:
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

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def make(run_dir: Path) -> None:
    """Creates the run directory and checks that this process can write in it; RunError naming it if not.

    Args:
      run_dir: the run directory.

    Returns:
      None.

    >>> import tempfile
    >>> make(Path(tempfile.mkdtemp()) / "run")
    """
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

    >>> import numpy as np
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


def typed_key(key: Any):
    """A typed PRNG key: an int seed becomes jax.random.key(seed); anything else is returned as it is.

    Args:
      key: an int, a typed key, or `gan_jax.Streams`.

    Returns:
      The key.

    >>> typed_key(3).dtype
    key<fry>
    """
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
    key = typed_key(key)
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
