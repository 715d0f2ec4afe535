"""End to end through the run loop: outputs, resume == uninterrupted, stops, and bad input."""

import dataclasses
import json
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config, with_train
from gan_jax import build, metrics_log, run, rundir, runs, signals
from gan_jax.config import ConfigError
from gan_jax.data import DataError
from test_gan import _equal


def _final_state(run_dir, cfg):
    gan = build.engine(cfg, (28, 28, 1))
    step, state, ckpts = rundir.restore(run_dir, gan)
    ckpts.close()
    return step, state


def _tensorboard_tags(folder) -> set[str]:
    """Scalar tags in TensorBoard event files, read as TFRecords (length, crc, Event proto, crc)."""
    from tensorboardX.proto import event_pb2

    tags = set()
    for path in folder.iterdir():
        raw, offset = path.read_bytes(), 0
        while offset < len(raw):
            (length,) = struct.unpack("<Q", raw[offset : offset + 8])
            event = event_pb2.Event.FromString(raw[offset + 12 : offset + 12 + length])
            tags |= {v.tag for v in event.summary.value}
            offset += 12 + length + 4
    return tags


def test_a_run_writes_its_outputs(tmp_path):
    cfg = tiny_config()
    out = runs.start(cfg, tmp_path / "r", progress=False)
    r = tmp_path / "r"
    assert out.reason == "done" and out.step == 8
    saved = json.loads((r / "config.json").read_text())
    assert saved["data"]["source"] == "embedded" and saved["train"]["steps"] == 8
    assert json.loads((r / "data.json").read_text())["n"] == 64
    rows = [json.loads(line) for line in (r / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4, 6, 8]
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "it_per_s"} <= set(rows[0])
    assert sorted(p.name for p in (r / "samples").iterdir()) == ["step_000004.png", "step_000008.png"]
    assert (r / "curves.png").stat().st_size > 1000
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "it_per_s"} <= _tensorboard_tags(r / "tensorboard")
    assert sorted(int(p.name) for p in (r / "checkpoints").iterdir() if p.name.isdigit()) == [0, 4, 8]
    assert out.last_grid == r / "samples" / "step_000008.png"


@pytest.mark.parametrize("fuse", [1, 2])
def test_resume_equals_an_uninterrupted_run_bitwise(tmp_path, fuse):
    full = tiny_config(steps=8, fuse=fuse)
    runs.start(full, tmp_path / "full", progress=False)
    runs.start(with_train(full, steps=4), tmp_path / "half", progress=False)
    out = runs.resume(tmp_path / "half", ["train.steps=8"], progress=False)
    assert out.step == 8
    step_a, a = _final_state(tmp_path / "full", full)
    step_b, b = _final_state(tmp_path / "half", full)
    assert step_a == step_b == 8 and _equal(a, b)
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "it_per_s"} for r in rs]
    assert strip(rows(tmp_path / "full")) == strip(rows(tmp_path / "half"))


def test_resume_from_an_earlier_checkpoint_drops_later_metrics(tmp_path):
    cfg = tiny_config(steps=8)
    runs.start(cfg, tmp_path / "r", progress=False)
    import shutil

    shutil.rmtree(tmp_path / "r" / "checkpoints" / "8")  # as if the run had died after step 7
    runs.resume(tmp_path / "r", progress=False)
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]
    shutil.rmtree(tmp_path / "r" / "checkpoints" / "8")  # and died again while writing the last row
    log = tmp_path / "r" / "metrics.jsonl"
    log.write_text(log.read_text()[:-25])
    runs.resume(tmp_path / "r", progress=False)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [2, 4, 6, 8]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(steps=40, checkpoint_interval=4)
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, g_lr=1e30, d_lr=1e30))
    with pytest.raises(run.NonFiniteLoss, match=r"non-finite .* at step \d+; training stopped. The last good checkpoint is step \d+"):
        runs.start(cfg, tmp_path / "r", progress=False)
    step, state = _final_state(tmp_path / "r", cfg)
    leaves = [x for x in jax.tree.leaves(state) if jax.numpy.issubdtype(x.dtype, jax.numpy.floating)]
    assert all(np.all(np.isfinite(x)) for x in leaves)
    assert step < 40


def test_early_stop_when_losses_flatten(tmp_path):
    plateau = metrics_log.Plateau(window=4, tol=0.05)
    assert not plateau.update(np.array([1.0, 1.0, 1.0, 1.0]), np.array([2.0] * 4))
    assert plateau.update(np.array([1.02, 1.0, 0.99, 1.0]), np.array([2.0] * 4))
    moving = metrics_log.Plateau(window=4, tol=0.05)
    moving.update(np.ones(4), np.ones(4))
    assert not moving.update(np.ones(4), np.full(4, 1.5))  # G's loss still moves
    out = runs.start(tiny_config(steps=200, early_stop_window=4, early_stop_tol=10.0), tmp_path / "r", progress=False)
    assert out.reason == "early_stop" and out.step < 200
    assert int(_final_state(tmp_path / "r", tiny_config())[0]) == out.step


def test_existing_run_dir_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("mine")
    with pytest.raises(run.RunError, match="already exists and is not empty; pass --resume"):
        runs.start(tiny_config(), tmp_path / "r", progress=False)
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["keep.txt"]


def test_unwritable_run_dir_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(run.RunError, match="cannot write the run directory"):
        runs.start(tiny_config(), tmp_path / "file" / "r", progress=False)


def test_missing_data_leaves_no_run_dir(tmp_path):
    cfg = dataclasses.replace(tiny_config(), data=dataclasses.replace(tiny_config().data, source="npz", path=str(tmp_path / "x.npz")))
    with pytest.raises(DataError):
        runs.start(cfg, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_epoch_sampling_needs_a_full_batch(tmp_path):
    cfg = tiny_config(batch_size=128)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sampling="epoch"))
    with pytest.raises(ConfigError, match="train.batch_size: 128 samples per batch .x gan.pack. is more than the 64 images"):
        runs.start(cfg, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_resume_needs_a_run_with_a_checkpoint(tmp_path):
    with pytest.raises(run.RunError, match="not a run directory"):
        runs.resume(tmp_path)
    runs.start(tiny_config(steps=4), tmp_path / "r", progress=False)
    import shutil

    shutil.rmtree(tmp_path / "r" / "checkpoints")
    with pytest.raises(run.RunError, match="no checkpoint that loads"):
        runs.resume(tmp_path / "r", progress=False)


def test_sample_exports_from_the_latest_checkpoint(tmp_path):
    runs.start(tiny_config(steps=4), tmp_path / "r", progress=False)
    x = runs.sample(tmp_path / "r", 7, seed=0, batch=3)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert -1 <= x.min() and x.max() <= 1 and x.std() > 0
    np.testing.assert_array_equal(x, runs.sample(tmp_path / "r", 7, seed=0, batch=3))
    assert not np.array_equal(x, runs.sample(tmp_path / "r", 7, seed=1, batch=3))


def test_sample_picks_live_or_moving_average_weights(tmp_path):
    """--weights: auto is the EMA when one is kept, live and ema are G's g_params and g_ema (which differ)."""
    cfg = tiny_config(steps=4)
    cfg = dataclasses.replace(cfg, gan=dataclasses.replace(cfg.gan, ema_decay=0.9))
    runs.start(cfg, tmp_path / "r", progress=False)
    _, state = _final_state(tmp_path / "r", cfg)
    gan = build.engine(cfg, (28, 28, 1))
    z = gan.noise(jax.random.fold_in(jax.random.key(3), 0), 5)
    live, ema = (np.asarray(gan.generate(p, state.g_rest, z)) for p in (state.g_params, state.g_ema))
    assert not np.allclose(live, ema, atol=1e-3)
    np.testing.assert_allclose(runs.sample(tmp_path / "r", 5, seed=3, weights="live"), live, atol=1e-6)
    np.testing.assert_allclose(runs.sample(tmp_path / "r", 5, seed=3, weights="ema"), ema, atol=1e-6)
    np.testing.assert_array_equal(runs.sample(tmp_path / "r", 5, seed=3), runs.sample(tmp_path / "r", 5, seed=3, weights="ema"))
    assert runs.weights_used(cfg, "auto") == "ema" and runs.weights_used(tiny_config(), "auto") == "live"
    with pytest.raises(run.RunError, match="keeps no moving average"):
        runs.weights_used(tiny_config(), "ema")


def test_a_convolutional_model_fused_on_the_cpu_gets_a_note():
    dcgan = dataclasses.replace(tiny_config(), model=dataclasses.replace(tiny_config().model, name="dcgan"))
    note = build.scan_note(with_train(dcgan, fuse=2), "cpu")
    assert "train.fuse=2" in note and "train.fuse=1" in note
    assert build.scan_note(with_train(dcgan, fuse=1), "cpu") is None  # single steps: nothing to say
    assert build.scan_note(with_train(dcgan, fuse=2), "gpu") is None  # only XLA:CPU has this problem
    assert build.scan_note(with_train(tiny_config(), fuse=2), "cpu") is None  # the MLP GAN has no convs


def test_a_second_signal_lets_a_checkpoint_save_finish_then_stops(capsys):
    import signal

    from gan_jax.signals import Signals

    signals = Signals()
    signals._handle(signal.SIGINT, None)
    assert signals.signum == signal.SIGINT and "a second Ctrl-C stops at once" in capsys.readouterr().out
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals.saving():
            signals._handle(signal.SIGINT, None)  # during the save: deferred
            finished.append(True)
    assert finished == [True]
    with pytest.raises(KeyboardInterrupt):
        signals._handle(signal.SIGINT, None)  # outside a save: at once


def test_a_run_directory_in_use_refuses_a_second_writer_and_keeps_its_files(tmp_path):
    cfg = tiny_config(steps=4)
    runs.start(cfg, tmp_path / "r", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    live = rundir.RunLock(tmp_path / "r")  # as if another process were training into it
    live.acquire()
    try:
        with pytest.raises(run.RunError, match=r"is in use: a run \(pid \d+\) is training into it"):
            runs.resume(tmp_path / "r", ["train.steps=8"], progress=False)
        import shutil

        shutil.rmtree(tmp_path / "r" / "checkpoints")  # even a directory a fresh start could clear
        with pytest.raises(run.RunError, match="is in use"):
            runs.start(cfg, tmp_path / "r", progress=False)
    finally:
        live.release()
    after = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file() and p.name != rundir.LOCK}
    assert after == {k: v for k, v in before.items() if k != rundir.LOCK}


def test_a_start_cut_short_before_its_first_checkpoint_is_no_dead_end(tmp_path, capsys):
    cfg = tiny_config(steps=4)
    images = np.zeros((64, 28, 28, 1), np.float32)
    for resume in (False, True):  # a fresh start clears it; --resume starts it fresh
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "config.json").write_text("{}")  # a kill -9 during start-up left only this
        out = run.fit(build.engine(cfg, (28, 28, 1)), images, run_dir=tmp_path / "r", steps=4, resume=resume,
                      progress=False, checkpoint_interval=4, sample_interval=4)
        said = capsys.readouterr().out
        assert out.step == 4 and ("starting it fresh" in said if resume else "clearing" in said)
        with pytest.raises(run.RunError, match="already exists and is not empty"):  # a real run is never cleared
            runs.start(cfg, tmp_path / "r", progress=False)
        import shutil

        shutil.rmtree(tmp_path / "r")


def test_sigterm_during_start_up_leaves_nothing(tmp_path, monkeypatch):
    import os
    import signal

    from gan_jax import checkpoint

    def killed(self, step, state, extra=None):  # SIGTERM arrives while step 0 is being written
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(checkpoint.Checkpoints, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        runs.start(tiny_config(steps=4), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_early_stopping_run_resumes_to_the_same_stop_bitwise(tmp_path):
    """The plateau's history is kept with each checkpoint: stopped 4 steps before the uninterrupted run's
    early stop (step 80 here) and resumed, the run stops there too, in the same state (without the
    history it would need 2 x 10 more steps to judge)."""
    cfg = tiny_config(steps=400, early_stop_window=10, early_stop_tol=0.02)
    full = runs.start(cfg, tmp_path / "full", progress=False)
    assert full.reason == "early_stop" and 40 < full.step < 400
    runs.start(with_train(cfg, steps=full.step - 4), tmp_path / "half", progress=False)
    resumed = runs.resume(tmp_path / "half", ["train.steps=400"], progress=False)
    assert resumed.reason == "early_stop" and resumed.step == full.step
    assert _equal(_final_state(tmp_path / "full", cfg)[1], _final_state(tmp_path / "half", cfg)[1])


def test_a_resumed_run_compiles_its_step_once(tmp_path, caplog):
    """The restored state's leaves are all placed alike (orbax's arrays are committed to a device, re-wrapped
    PRNG keys were not): otherwise the step compiled twice, 14 s more per DCGAN resume here."""
    import logging

    runs.start(tiny_config(steps=4), tmp_path / "r", progress=False)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            runs.resume(tmp_path / "r", ["train.steps=8"], progress=False)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r.getMessage().split()[1] for r in caplog.records if r.getMessage().startswith("Compiling")]
    assert compiled and len(compiled) == len(set(compiled)), compiled


def test_metrics_stay_on_the_device_until_a_log_step(tmp_path, monkeypatch):
    """20 steps logged every 5: the loop copies metrics from the device 4 times, 5 calls' worth each, not
    at every call (on a GPU a copy per call makes the loop wait for the device)."""
    from gan_jax import run

    fetched = []
    real = jax.device_get

    def counting(tree):
        if isinstance(tree, list):  # the loop's fetch: a list of the calls' metrics
            fetched.append(len(tree))
        return real(tree)

    monkeypatch.setattr(run.jax, "device_get", counting)
    monkeypatch.setattr(metrics_log, "QUIET_S", 1e9)  # no fetch for the progress line
    out = runs.start(tiny_config(steps=20, log_interval=5, sample_interval=10, checkpoint_interval=10),
                      tmp_path / "r", progress=False)
    assert out.step == 20 and fetched == [5, 5, 5, 5]
    rows = [json.loads(r) for r in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]


def test_images_sit_on_the_device_as_uint8_and_train_bit_for_bit_as_floats(tmp_path, monkeypatch):
    """data.load's images go to the device as uint8 (a quarter of the memory) and are looked up as the
    same float32 values inside the step: a run ends bitwise where the same run on float32 images ends.
    (Here. The pixels are always the same floats, but XLA may compile their consumers differently: a
    5-seed mnist_sgan step rounds differently in the 8th digit, docs/notes/2026-12-03-sgan-recipes.md.)
    Arrays that are not exactly pixels (a user's floats, labels, 2-D points) are left as they are."""
    from gan_jax import data as data_lib
    from gan_jax import sampling

    p = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
    assert np.array_equal(np.asarray(sampling.pixels(jnp.asarray(p))), data_lib.to_unit_range(p))
    x = data_lib.to_unit_range(p)
    assert sampling.compact(x).dtype == np.uint8 and np.array_equal(sampling.compact(x), p)
    assert sampling.compact(x + 1e-3).dtype == np.float32  # not pixels: kept
    labels = np.arange(4)
    assert sampling.compact((x, labels))[1] is labels
    cfg = tiny_config(steps=6, log_interval=2, sample_interval=6, checkpoint_interval=6)
    assert sampling.compact(build.load_data(cfg)[1].images).dtype == np.uint8  # the run's data does go as uint8
    compact = runs.start(cfg, tmp_path / "uint8", progress=False)
    monkeypatch.setattr(run.sampling, "compact", lambda d: d)
    floats = runs.start(cfg, tmp_path / "float32", progress=False)
    assert compact.step == floats.step == 6 and _equal(compact.state, floats.state)


def test_fuse_zero_is_the_backends_default(tmp_path, monkeypatch, capsys):
    """train.fuse=0: single steps on the CPU (no note), 100 iterations per call on a GPU or TPU, said at the
    start; config.json keeps 0, so the same run resumed on another backend takes that one's default."""
    cfg = tiny_config(steps=8, fuse=0, log_interval=8, sample_interval=8, checkpoint_interval=8)
    assert build.fuse_of(cfg, "cpu") == 1 and build.fuse_of(cfg, "tpu") == build.ACCELERATOR_FUSE
    runs.start(cfg, tmp_path / "cpu", progress=False)
    assert "train.fuse=0" not in capsys.readouterr().out
    monkeypatch.setattr(runs.jax, "default_backend", lambda: "gpu")  # what _fit reads; the CPU still computes
    runs.start(cfg, tmp_path / "gpu", progress=False)
    assert "train.fuse=0: 100 iterations per compiled call on gpu" in capsys.readouterr().out
    assert json.loads((tmp_path / "gpu" / "config.json").read_text())["train"]["fuse"] == 0


def test_a_signal_after_training_ends_unwinds_with_its_number(monkeypatch, capsys):
    """Once the loop has ended (curves, the report), SIGTERM or SIGINT raise `Interrupted` (SIGTERM's
    default would end the process without a word); the CLI turns it into exit 128 + signal and a hint."""
    import os
    import signal

    from gan_jax import cli, runs

    with pytest.raises(run.Interrupted) as stopped:
        with signals.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))

    def finished_then_signalled(*args, **kwargs):
        raise run.Interrupted(signal.SIGTERM)

    monkeypatch.setattr(runs, "start", finished_then_signalled)
    assert cli.main(["train", "mnist_gan", "--no-progress"]) == 143
    assert "--resume, which also writes a finished run's curves and report" in capsys.readouterr().err


def test_a_quiet_progress_line_after_a_batch_of_fetched_metrics_counts_all_its_steps(tmp_path, capsys, monkeypatch):
    """Metrics wait on the device for up to QUIET_S and are then added step by step in one burst: the line
    printed after the burst divides all 40 steps since the last row by the 40 s they took (1.0 it/s), where
    a line printed at the burst's first step would count 1 step over 40 s (0.0 it/s, "about 250 h left")."""
    now = [0.0]
    monkeypatch.setattr(metrics_log.time, "perf_counter", lambda: now[0])
    log = metrics_log.MetricsLog(tmp_path, total=1000, log_interval=100, start_step=0, progress=False,
                         headline=("d_loss",), write=True)
    for step in range(1, 101):  # 100 steps in 10 s: the row at 100
        now[0] += 0.1
        log.add(step, {"d_loss": np.ones(1)})
    log.heartbeat(100)
    now[0] = 50.0  # 40 s later, 40 steps fetched at once
    for step in range(101, 141):
        log.add(step, {"d_loss": np.full(1, 2.0)})
        if step == 101:
            assert "it/s" not in capsys.readouterr().out  # nothing printed mid-burst
    log.heartbeat(140)
    log.close()
    lines = [line for line in capsys.readouterr().out.splitlines() if "it/s" in line]
    assert lines == ["step 140/1000  d_loss 2.0000  1.0 it/s  about 14 min left"]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["it_per_s"] == pytest.approx(10.0)


def test_two_starts_probing_one_run_directory_use_their_own_probe_files(tmp_path):
    """Each start checks the directory is writable with a probe of its own (.write-test.PID): another
    process's probe, written at the same moment, is neither removed nor in the way, and a probe left by a
    start killed mid-check still counts as an unfinished start's file."""
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    other = run_dir / ".write-test.1"  # another process's, mid-check
    other.write_text("")
    rundir.make(run_dir)
    assert other.exists() and sorted(p.name for p in run_dir.iterdir()) == [".write-test.1"]
    assert rundir.unfinished_start(run_dir)
    (run_dir / "notes.txt").write_text("mine")
    assert not rundir.unfinished_start(run_dir)
