import json
import os
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from gan_jax import build, rundir
from conftest import tiny_config
from gan_jax.checkpoint import Checkpoints, from_nested, to_nested
from gan_jax.gan import Streams
from test_gan import _equal


@pytest.fixture
def gan():
    return build.engine(tiny_config(), (28, 28, 1))


def _advanced(gan, images, n):
    state, step = gan.init(0), jax.jit(gan.train_step)
    for _ in range(n):
        state, _ = step(state, images)
    return state


def test_nested_round_trip_keeps_typed_keys(gan):
    state = gan.init(Streams.from_seeds(5, 6))
    nested = to_nested(state)
    assert nested["key"].dtype == np.uint32 and "hidden" in nested["g_params"]["net"]
    back = from_nested(nested, gan.init(0))
    assert _equal(back, state) and jax.dtypes.issubdtype(back.key.dtype, jax.dtypes.prng_key)


def test_save_restore_is_bitwise(gan, images, tmp_path):
    state = _advanced(gan, images, 3)
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    ckpts.save(3, state)
    step, restored = ckpts.restore(gan.init(0))
    assert step == 3 and _equal(restored, state)
    ckpts.close()


def test_an_asynchronous_save_holds_the_state_it_was_given_though_the_loop_donates_it(gan, images, tmp_path):
    state = _advanced(gan, images, 3)
    kept = jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, state)
    ckpts = Checkpoints(tmp_path / "ck", keep=3, asynchronous=True)
    ckpts.save(3, state)
    assert ckpts.writing == 3
    state, _ = jax.jit(gan.train_step, donate_argnums=0)(state, images)  # the next step, while it writes
    ckpts.wait()
    assert ckpts.writing is None and ckpts.steps() == [3]
    step, restored = ckpts.restore(gan.init(0))
    assert step == 3 and _equal(restored, kept) and not _equal(restored, state)
    ckpts.close()


def _damage(step_dir: Path) -> None:
    """Truncates every array data file of one checkpoint (what a full disk or a bad copy leaves)."""
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.stat().st_size > 0 and "ocdbt.process" in str(p)]
    assert files
    for p in files:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])


def _set_custom_metadata(step_dir: Path, custom: dict) -> None:
    meta = json.loads((step_dir / "_CHECKPOINT_METADATA").read_text())
    meta["custom_metadata"] = custom
    (step_dir / "_CHECKPOINT_METADATA").write_text(json.dumps(meta))


# orbax abandons its pending read coroutines when a damaged checkpoint fails to load; they only warn
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("damage", ["truncate", "delete", "no checksum", "older run, wrong checksum file"])
def test_damaged_latest_falls_back_to_previous_with_a_warning(gan, images, tmp_path, damage):
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    s2, s4 = _advanced(gan, images, 2), _advanced(gan, images, 4)
    ckpts.save(2, s2)
    ckpts.save(4, s4)
    ckpts.close()
    if damage == "truncate":
        _damage(tmp_path / "ck" / "4")
    elif damage == "no checksum":  # unverifiable where step 2 has one: not trusted
        _set_custom_metadata(tmp_path / "ck" / "4", {})
    elif damage == "older run, wrong checksum file":  # how older versions kept it: still checked
        _set_custom_metadata(tmp_path / "ck" / "4", {})
        (tmp_path / "ck" / "4" / "gan_jax_sha256.json").write_text(json.dumps({"sha256": "0" * 64}))
    else:
        for p in (tmp_path / "ck" / "4").rglob("*"):
            if p.is_file() and p.name == "manifest.ocdbt":
                p.unlink()
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    assert ckpts.steps() == [2, 4]  # orbax still lists the damaged step
    with pytest.warns(UserWarning, match="checkpoint step 4 .* is damaged"):
        step, restored = ckpts.restore(gan.init(0))
    assert step == 2 and _equal(restored, s2)
    assert ckpts.steps() == [2] and (tmp_path / "damaged_checkpoints").is_dir()
    ckpts.save(4, s4)  # the damaged step number can be written again
    assert ckpts.restore(gan.init(0))[0] == 4
    ckpts.close()


def test_kill_during_save_loses_nothing_older(gan, images, tmp_path):
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    s2 = _advanced(gan, images, 2)
    ckpts.save(2, s2)
    ckpts.close()
    # what a kill in the middle of writing step 4 leaves behind: orbax's temporary folder only
    partial = tmp_path / "ck" / "4.orbax-checkpoint-tmp"
    (partial / "default").mkdir(parents=True)
    (partial / "default" / "partial").write_bytes(b"\0" * 10)
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step, restored = ckpts.restore(gan.init(0))
    assert step == 2 and _equal(restored, s2)
    ckpts.close()


def test_no_checkpoint_restores_none(gan, tmp_path):
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    assert ckpts.restore(gan.init(0)) is None
    ckpts.close()


def test_checkpoint_files_hold_no_pickle(gan, images, tmp_path):
    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    ckpts.save(1, _advanced(gan, images, 1))
    ckpts.close()
    for p in (tmp_path / "ck").rglob("*"):
        if p.is_file():
            assert not p.read_bytes().startswith(b"\x80"), f"{p} looks like a pickle"


def test_a_different_model_is_a_clear_error_not_damage(gan, images, tmp_path):
    from conftest import tiny_config
    from gan_jax.checkpoint import CheckpointMismatch
    import dataclasses

    ckpts = Checkpoints(tmp_path / "ck", keep=3)
    ckpts.save(2, _advanced(gan, images, 2))
    cfg = tiny_config()
    wider = build.engine(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, hidden=32)), (28, 28, 1))
    with pytest.raises(CheckpointMismatch, match="holds a different model"):
        ckpts.restore(wider.init(0))
    assert ckpts.steps() == [2] and not (tmp_path / "damaged_checkpoints").exists()
    ckpts.close()


def test_opening_removes_the_folder_of_a_save_cut_short(tmp_path):
    from gan_jax.checkpoint import Checkpoints

    cut = tmp_path / "ck" / "5.orbax-checkpoint-tmp-1733140000"
    cut.mkdir(parents=True)
    (cut / "partial").write_text("x")
    Checkpoints(tmp_path / "ck", 3).close()
    assert not cut.exists() and (tmp_path / "ck").is_dir()


# orbax abandons its pending read coroutines when a damaged checkpoint fails to load; they only warn
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:checkpoint step 4:UserWarning")
def test_flipped_bytes_in_array_data_never_restore_a_different_state(gan, images, tmp_path):
    """A few flipped bytes anywhere in the newest checkpoint's array files: restore gives back either the
    saved state bit for bit or the previous checkpoint, never altered arrays (orbax checks no array data;
    the checksum written with each step does)."""
    s2, s4 = _advanced(gan, images, 2), _advanced(gan, images, 4)
    rng = np.random.default_rng(0)
    outcomes = []
    for trial in range(6):
        folder = tmp_path / f"t{trial}"
        ckpts = Checkpoints(folder, keep=3)
        ckpts.save(2, s2)
        ckpts.save(4, s4)
        ckpts.close()
        files = [p for p in (folder / "4").rglob("*") if p.is_file() and "ocdbt.process" in str(p) and "d" in p.parts]
        target = max(files, key=lambda p: p.stat().st_size)  # the array data
        data = bytearray(target.read_bytes())
        for i in rng.choice(len(data), 3, replace=False):
            data[i] ^= 0xFF
        target.write_bytes(bytes(data))
        ckpts = Checkpoints(folder, keep=3)
        step, restored = ckpts.restore(gan.init(0))
        ckpts.close()
        assert _equal(restored, s4 if step == 4 else s2), f"trial {trial}: step {step} restored altered arrays"
        outcomes.append(step)
    assert 2 in outcomes  # the damage was caught at least once (and the run fell back)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_quarantine_folder_that_is_a_file_is_a_clear_error(gan, images, tmp_path):
    from gan_jax import run

    ckpts = Checkpoints(tmp_path / "checkpoints", keep=3)
    ckpts.save(2, _advanced(gan, images, 2))
    ckpts.close()
    _damage(tmp_path / "checkpoints" / "2")
    (tmp_path / "damaged_checkpoints").write_text("not a folder")
    with pytest.raises(run.RunError, match="damaged_checkpoints, where damaged checkpoints are moved, is not a folder"):
        rundir.restore(tmp_path, gan)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_reading_a_run_changes_nothing_in_it_even_when_damaged_or_read_only(gan, images, tmp_path):
    """load_run (what sample and eval use) falls back past a damaged step without moving it, and opens the
    run read-only (the permission bits only bite when the tests do not run as root)."""
    import os
    import stat

    from conftest import tiny_config
    from gan_jax import runs

    cfg = tiny_config(steps=8)
    runs.start(cfg, tmp_path / "r", progress=False)
    _damage(tmp_path / "r" / "checkpoints" / "8")
    listing = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "r").rglob("*"))
    for p in [tmp_path / "r", *(tmp_path / "r").rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        with pytest.warns(UserWarning, match="checkpoint step 8 .* is damaged .*; left it in place"):
            loaded = runs.load_run(tmp_path / "r")
        assert loaded.step == 4
    finally:
        for p in [tmp_path / "r", *(tmp_path / "r").rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "r").rglob("*")) == listing
    assert os.access(tmp_path / "r", os.W_OK)


def test_a_failed_restore_prints_no_tracebacks_of_its_abandoned_reads(monkeypatch):
    """orbax's failed restores leave read coroutines that finalize with errors and TensorStore reads that
    report to a closed event loop; those (and only those) unraisable exceptions are dropped, so a damaged
    checkpoint reads as one warning, not dozens of tracebacks."""
    import sys
    import types

    from gan_jax import checkpoint

    shown = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: shown.append(str(u.exc_value)))
    checkpoint._quiet_abandoned_reads()
    checkpoint._quiet_abandoned_reads()  # once per process: no second wrapper

    class Raises:
        def __init__(self, message):
            self.message = message

        def __del__(self):
            raise RuntimeError(self.message)

    Raises("Event loop is closed")
    Raises("something else")
    orbax_coroutine = types.SimpleNamespace(cr_code=types.SimpleNamespace(
        co_filename=f"{os.sep}site-packages{os.sep}orbax{os.sep}checkpoint{os.sep}serialization.py"))
    sys.unraisablehook(types.SimpleNamespace(exc_value=ValueError("read failed"), object=orbax_coroutine))
    sys.unraisablehook(types.SimpleNamespace(exc_value=ValueError("mine"), object=None))
    assert shown == ["something else", "mine"]
