"""A thin orbax wrapper: save a state pytree, restore the latest checkpoint that actually loads.

Checkpoints hold plain arrays only (orbax's array format, no pickle), laid out as a nested dict named
after the state's pytree paths (`g_params/hidden/kernel/value`, ...). Typed PRNG keys are stored as
their key data and re-wrapped on restore.

orbax writes each step into `N.orbax-checkpoint-tmp` and renames it when complete, so a kill during a
save leaves the older steps intact (the next open removes the unfinished folder). Each step carries the
sha256 of its arrays in its orbax metadata (written inside the step before the rename, so a step is never
complete without it), checked on restore: orbax checks no array data, so flipped bits would otherwise load
silently. With `asynchronous=True` a save returns once the arrays are copied off the device and the
writing goes on in the background, beside training; the next save, `wait()`, `restore` and `close` wait
for it and raise what it raised (a full disk). A damaged step (truncated, deleted or altered files) is still listed
as the latest by orbax, so `restore` tries the steps newest first, moves a damaged one aside to
`<run>/damaged_checkpoints/` with a warning (otherwise orbax would refuse to save that step number
again) and falls back to the previous good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import parallel


def _name(entry) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    raise TypeError(f"unsupported pytree path entry {entry!r}")


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_nested(tree) -> dict:
    """The pytree's leaves as a nested dict keyed by path names (typed keys -> their uint32 data).

    Args:
      tree: a state pytree.

    Returns:
      A nested dict of arrays (what orbax writes).

    >>> to_nested({"a": [1, 2]})
    {'a': {'0': 1, '1': 2}}
    """
    out: dict = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        node = out
        names = [_name(p) for p in path]
        for n in names[:-1]:
            node = node.setdefault(n, {})
        node[names[-1]] = jax.random.key_data(leaf) if _is_key(leaf) else leaf
    return out


def from_nested(nested: dict, template):
    """The inverse of `to_nested`: fills `template`'s structure with the leaves of `nested`.

    Args:
      nested: a nested dict (a restored checkpoint). template: a state of the right structure.

    Returns:
      The state; ValueError when a leaf's shape differs.

    >>> from_nested({"a": {"0": np.ones(2)}}, {"a": [np.zeros(2)]})["a"][0].tolist()
    [1.0, 1.0]
    """
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, like in paths:
        value = nested
        for p in path:
            value = value[_name(p)]
        if _is_key(like):
            value = jax.random.wrap_key_data(np.asarray(value), impl=jax.random.key_impl(like))
        elif tuple(value.shape) != tuple(like.shape):
            raise ValueError(f"checkpoint leaf {jax.tree_util.keystr(path)} has shape {value.shape}, expected {like.shape}")
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def flat_arrays(nested: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """A nested dict of arrays as one flat dict keyed by "/"-joined paths (what an .npz holds).

    Args:
      nested: e.g. `to_nested(params)`. prefix: prepended to every key.

    Returns:
      {path: numpy array}.

    >>> flat_arrays({"a": {"b": 1}})
    {'a/b': array(1)}
    """
    out = {}
    for k, v in nested.items():
        if isinstance(v, dict):
            out.update(flat_arrays(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def nest_arrays(flat: dict[str, np.ndarray]) -> dict:
    """The inverse of `flat_arrays`.

    Args:
      flat: {"/"-joined path: array}.

    Returns:
      The nested dict.

    >>> nest_arrays({"a/b": 1})
    {'a': {'b': 1}}
    """
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


SHA256 = "gan_jax_sha256"  # key of a step's orbax custom metadata: the sha256 of its arrays
EXTRA_KEY = "gan_jax_extra"  # key of a step's orbax custom metadata: host-side state of the run loop
# runs saved before the metadata held them kept both as files in the step's folder (still read)
CHECKSUM = "gan_jax_sha256.json"
EXTRA = "gan_jax_extra.json"


class DamagedArrays(ValueError):
    """A checkpoint loads, but its array data is not what was saved (flipped bits, overwritten bytes)."""


def digest_arrays(nested: dict) -> str:
    """One sha256 over a nested dict of arrays: every leaf's path, dtype, shape and bytes, in path order.

    Args:
      nested: e.g. `to_nested(state)` or a restored checkpoint.

    Returns:
      The hex digest.

    >>> digest_arrays({"a": np.zeros(2)}) == digest_arrays({"a": np.zeros(2)}) != digest_arrays({"a": np.ones(2)})
    True
    """
    h = hashlib.sha256()
    for path, value in sorted(flat_arrays(nested).items()):
        value = np.ascontiguousarray(np.asarray(jax.device_get(value)))
        h.update(f"{path}:{value.dtype.str}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _absl_at(level: int | None):
    """The absl logger (orbax logs through it) at `level` inside the block (None: unchanged)."""
    absl = logging.getLogger("absl")
    before = absl.level
    if level is not None:
        absl.setLevel(level)
    try:
        yield
    finally:
        absl.setLevel(before)


def _reason(e: Exception) -> str:
    """What broke, in a line a user reads: orbax's and TensorStore's first line without the spec repr
    TensorStore appends ("See full TensorStore details: <bound method ...>"), cut at 160 characters.

    >>> _reason(ValueError('Error reading "x/.zarray". See full TensorStore details: <bound method spec>'))
    'Error reading "x/.zarray"'
    """
    first = str(e).splitlines()[0] if str(e) else ""
    first = first.split(" See full TensorStore details")[0].split(" <bound method")[0].rstrip(" .:")
    return first if len(first) <= 160 else first[:157] + "..."


def _abandoned_read(unraisable) -> bool:
    """An exception nobody could catch, left by orbax's restore of a damaged checkpoint: once one read
    fails, the restore's event loop closes with the other arrays' read coroutines abandoned; they finalize
    later with their own errors, and TensorStore reads still in flight report to the closed loop
    ("Event loop is closed")."""
    e, where = unraisable.exc_value, getattr(getattr(unraisable.object, "cr_code", None), "co_filename", "")
    return (isinstance(e, RuntimeError) and str(e) == "Event loop is closed") or f"{os.sep}orbax{os.sep}" in where


def _quiet_abandoned_reads() -> None:
    """Once per process: the dozens of tracebacks a failed restore's abandoned reads print (through
    sys.unraisablehook) are dropped, leaving the one warning that names the damaged checkpoint; every other
    unraisable exception is shown as before."""
    previous = sys.unraisablehook
    if getattr(previous, "gan_jax_quiet", False):
        return

    def hook(unraisable):
        if not _abandoned_read(unraisable):
            previous(unraisable)

    hook.gan_jax_quiet = True
    sys.unraisablehook = hook


class CheckpointMismatch(ValueError):
    """A checkpoint is intact but its arrays do not fit the model the config builds."""


def _layout(tree) -> dict:
    """{path: shape} of a nested dict of arrays or of orbax's array metadata."""
    if tree is None:
        return {}
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))[0]
    return {"/".join(_name(p) for p in path): tuple(leaf.shape) for path, leaf in leaves if hasattr(leaf, "shape")}


class Checkpoints:
    """Step-numbered checkpoints of one run under `directory`, keeping the newest `keep`.

    `asynchronous=True`: `save` returns once the arrays are off the device, and the files are written
    in the background (what a training loop wants); the default waits until the step is on disk.
    """

    def __init__(self, directory: str | Path, keep: int, read_only: bool = False, asynchronous: bool = False):
        self.directory = Path(directory).absolute()
        self.keep, self.read_only, self.asynchronous = keep, read_only, asynchronous
        self.writing: int | None = None  # the step of a save still being written, if any
        self.failed: int | None = None  # the step of the last save that raised, if any
        if read_only and not self.directory.is_dir():
            raise FileNotFoundError(f"no checkpoints folder {self.directory}")
        if parallel.primary() and not read_only:
            self.remove_unfinished()
        self._manager = self._open()

    def remove_unfinished(self) -> None:
        """Deletes the temporary folders of saves cut short (a kill or a full disk mid-write): never checkpoints.

        Returns:
          None.

        >>> # Checkpoints("runs/x/checkpoints", 3).remove_unfinished()
        """
        for tmp in self.directory.glob("*.orbax-checkpoint-tmp*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def _open(self) -> ocp.CheckpointManager:
        if self.read_only:  # orbax warns unless the save settings are off too
            options = ocp.CheckpointManagerOptions(max_to_keep=None, save_interval_steps=0, create=False,
                                                   enable_async_checkpointing=False, read_only=True)
        else:
            options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True,
                                                   enable_async_checkpointing=self.asynchronous)
        # orbax logs that a read-only directory is read-only, and what it makes of damaged metadata (which
        # restore decides on, and reports in one line)
        with _absl_at(logging.CRITICAL):
            return ocp.CheckpointManager(self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler())

    def steps(self) -> list[int]:
        """The complete steps (a save still being written is not one yet).

        Returns:
          Sorted step numbers.

        >>> # Checkpoints("runs/x/checkpoints", 3).steps()[-1]  # the newest
        """
        # orbax lists a step from the moment its save starts; it is on disk once renamed from its tmp folder
        return sorted(s for s in self._manager.all_steps() if (self.directory / str(s)).is_dir())

    def save(self, step: int, state, extra: dict | None = None) -> None:
        """Writes `state` as step `step`, with the sha256 of its arrays (and `extra`) in the step's metadata.

        Waits for the previous save first. Synchronous (the default): returns when the step is on disk.
        Asynchronous: returns once the arrays are copied off the device (`state` may then be donated or
        changed); `wait()` or the next save finishes it.

        Args:
          step: the step number. state: the pytree.
          extra: JSON-able host-side state kept with the step (`extra(step)` reads it back).

        Returns:
          None.

        >>> # Checkpoints("runs/x/checkpoints", keep=3).save(100, state)
        """
        self.wait()
        nested = to_nested(state)
        # the digest of what is saved, computed here: restore compares the arrays it reads with it
        metadata = {SHA256: digest_arrays(to_nested(parallel.local(state)))}
        if extra:
            metadata[EXTRA_KEY] = extra
        self.writing = step
        try:
            if not self._manager.save(step, args=ocp.args.StandardSave(nested), force=True, custom_metadata=metadata):
                raise RuntimeError(f"orbax did not save step {step} (existing steps: {self.steps()})")
        except BaseException:
            self.failed, self.writing = step, None
            raise
        if not self.asynchronous:
            self.wait()

    def wait(self) -> None:
        """Waits until a save in progress is complete on disk; raises what its writing raised (e.g. a full
        disk), and `failed` then names its step.

        Returns:
          None.

        >>> # ckpts.save(100, state); ckpts.wait()  # step 100 is on disk
        """
        try:
            self._manager.wait_until_finished()
        except BaseException:
            self.failed = self.writing
            raise
        finally:
            self.writing = None

    def _custom(self, step: int) -> dict:
        """The step's orbax custom metadata ({} when unreadable or absent)."""
        try:
            with _absl_at(logging.CRITICAL):
                return dict(self._manager.metadata(step).custom_metadata or {})
        except Exception:  # damaged or missing metadata: restore decides, by the checksum
            return {}

    def extra(self, step: int) -> dict:
        """What `save(step, state, extra)` kept beside the arrays ({} when nothing).

        Args:
          step: a saved step.

        Returns:
          The dict.

        >>> # Checkpoints("runs/x/checkpoints", 3).extra(1000).get("plateau", [])
        """
        custom = self._custom(step)
        if EXTRA_KEY in custom:
            return dict(custom[EXTRA_KEY])
        path = self.directory / str(step) / EXTRA
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except ValueError:
            return {}

    def _checksum(self, step: int) -> str | None:
        """The sha256 written with the step (its metadata, or the file of older runs); None when it has none.
        Raises DamagedArrays when the file of an older run is unreadable."""
        custom = self._custom(step)
        if SHA256 in custom:
            return str(custom[SHA256])
        path = self.directory / str(step) / CHECKSUM
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["sha256"]
        except (ValueError, KeyError) as e:
            raise DamagedArrays(f"its checksum file {CHECKSUM} is unreadable ({e})") from None

    def restore(self, template) -> tuple[int, Any] | None:
        """The newest checkpoint that loads.

        Args:
          template: a state of the right structure (its values are not used).

        Returns:
          (step, state), or None when there is none; a damaged step is moved to damaged_checkpoints/.

        >>> # step, state = Checkpoints("runs/x/checkpoints", keep=3).restore(gan.init(0))
        """
        self.wait()
        _quiet_abandoned_reads()
        with _absl_at(logging.CRITICAL):  # orbax's logs of damaged metadata: the checksum decides, and says so
            return self._restore(to_nested(template), template)

    def _restore(self, target: dict, template) -> tuple[int, Any] | None:
        for step in reversed(self.steps()):
            self._check_layout(step, target)
            try:
                restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
                self._verify(step, restored)
                return step, from_nested(restored, template)
            except Exception as e:  # orbax's errors differ by kind of damage
                # read-only (sample, eval): the run is left as it is; training moves the step aside
                where = "left it in place" if self.read_only else f"moved it to {self._quarantine(step)}"
                first = _reason(e)
                warnings.warn(
                    f"checkpoint step {step} in {self.directory} is damaged ({type(e).__name__}: {first}); {where}; "
                    "falling back to the previous checkpoint",
                    stacklevel=2,
                )
        return None

    def _check_layout(self, step: int, target: dict) -> None:
        """Raises CheckpointMismatch when step's saved arrays (names, shapes) differ from the target's:
        a different model or config, not damage, so the checkpoint is left alone."""
        try:
            saved = _layout(self._manager.item_metadata(step))
        except Exception:  # unreadable metadata: damage, which restore() handles
            return
        expected = _layout(target)
        if saved and saved != expected:
            diff = sorted(set(saved.items()) ^ set(expected.items()))[:3]
            raise CheckpointMismatch(
                f"checkpoint step {step} in {self.directory} holds a different model than the config describes "
                f"(first differences, as (path, shape): {diff}); was the run made by another version or config?"
            )

    def _verify(self, step: int, restored: dict) -> None:
        """Raises DamagedArrays when the restored arrays differ from what was saved, or when the step has no
        checksum while another step of the run has one (damaged metadata, or a save of an older version
        killed before its checksum file was written: unverifiable, so the verified step before it is used).
        A run from before checksums has none at all and is accepted."""
        expected = self._checksum(step)
        if expected is None:
            others = [other for other in self.steps() if other != step]
            if any(self._has_checksum(other) for other in others):
                raise DamagedArrays("it has no checksum (its metadata is damaged), where the run's other checkpoints do")
            return
        if digest_arrays(restored) != expected:
            raise DamagedArrays("its arrays do not match the checksum written when it was saved")

    def _has_checksum(self, step: int) -> bool:
        try:
            return self._checksum(step) is not None
        except DamagedArrays:
            return True

    def _quarantine(self, step: int) -> Path:
        self._manager.close()
        damaged = self.directory.parent / "damaged_checkpoints"
        target = damaged / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        for n in range(1, 1000):  # the same step damaged twice within a second
            if not target.exists():
                break
            target = damaged / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        if parallel.primary():  # over several processes, one moves it
            if damaged.exists() and not damaged.is_dir():
                raise DamagedArrays(f"checkpoint step {step} is damaged, and {damaged}, where damaged checkpoints are "
                                    "moved, is not a folder; move that file away and resume")
            damaged.mkdir(exist_ok=True)
            shutil.move(str(self.directory / str(step)), str(target))
        parallel.barrier(f"quarantined checkpoint {step}")
        self._manager = self._open()
        return target

    def close(self) -> None:
        """Waits for a save in progress, then closes orbax's manager.

        Returns:
          None.

        >>> # ckpts.close()
        """
        try:
            self.wait()
        finally:
            self._manager.close()
