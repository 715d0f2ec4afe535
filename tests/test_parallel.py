"""Data parallel over 8 forced CPU devices equals one device; mixed precision trains and samples float32."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TINY_SET, tiny_config
from gan_jax import build, rundir, runs
from gan_jax.checkpoint import Checkpoints
from gan_jax.config import ConfigError, apply_overrides

TESTS = Path(__file__).parent
EIGHT = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}


def _eight_devices(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=TESTS, env=EIGHT, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("overrides", [[], ["model.name=dcgan"]], ids=["mlp", "dcgan-batchnorm"])
def test_a_step_on_8_devices_equals_the_step_on_1(overrides):
    done = _eight_devices(["multidevice_check.py", *overrides])
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["devices"] == [8, 1, 8]
    for name, (one, eight) in r["metrics"].items():
        assert eight == pytest.approx(one, rel=1e-4, abs=1e-6), name
    # BatchNorm's running averages come from the global batch's statistics
    assert r["rest_max_diff"] < 1e-4  # per-device statistics (2 samples each) would differ by ~0.1
    # Adam's first step is ~lr * sign(gradient): where a gradient is ~0, rounding can flip the sign, so a
    # few weights differ by up to 2 lr per Adam step (D takes two); all the others agree to float rounding
    assert r["param_share_over_1e-5"] < 0.01 and r["param_max_diff"] <= 4 * 1e-3 * 1.1
    # what crosses devices is the gradient (and batch-statistics) all-reduces; the batch is drawn from the
    # replicated dataset where it is used, never gathered
    assert r["collectives"].get("all-reduce", 0) > 0 and set(r["collectives"]) == {"all-reduce"}, r["collectives"]


def test_the_resume_test_passes_on_8_devices():
    done = _eight_devices(["-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "test_run.py", "-k", "resume_equals"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout


def test_a_batch_that_does_not_split_is_a_clear_error():
    with pytest.raises(ConfigError, match="train.devices: 4 devices asked, 1 available"):
        build.engine(apply_overrides(tiny_config(), ["train.devices=4"]), (28, 28, 1))


@pytest.mark.parametrize("overrides", [[], ["model.name=dcgan"], ["model.name=vae", "model.z_dim=2"]],
                         ids=["mlp", "dcgan", "vae"])
def test_bfloat16_compute_trains_to_finite_losses_and_samples_float32(tmp_path, overrides):
    cfg = apply_overrides(tiny_config(), ["train.precision=bfloat16", *overrides])
    out = runs.start(cfg, tmp_path / "r", progress=False)
    assert out.reason == "done" and all(np.isfinite(v) for v in out.last.values())
    model = build.engine(cfg, (28, 28, 1))
    step, state, ckpt = rundir.restore(tmp_path / "r", model)
    ckpt.close()
    leaves = jax.tree.leaves(state)
    assert all(x.dtype in (jnp.float32, jnp.int32) or jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
               for x in leaves)  # params, optimizer state and statistics stay float32
    x = jax.jit(model.sample)(state, model.noise(jax.random.key(0), 4))
    assert x.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(x)))
    # and the compute really is bfloat16: the samples differ from a float32 pass by bf16 rounding
    f32 = build.engine(apply_overrides(cfg, ["train.precision=float32"]), (28, 28, 1))
    y = jax.jit(f32.sample)(state, model.noise(jax.random.key(0), 4))
    assert 1e-4 < float(jnp.max(jnp.abs(x - y))) < 0.1


def _launch(run_dir, steps: int, devices: int, processes: int, resume: bool = False) -> list[subprocess.Popen]:
    """Starts `gan-jax train` of the tiny config as `processes` processes (jax.distributed on this machine's
    CPU, `devices` forced devices each), all with the same command."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress",
           "--set", *TINY_SET, f"train.steps={steps}", *(["--resume"] if resume else [])]
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    if processes > 1:
        cmd.append("--distributed")
    procs = [subprocess.Popen(cmd, env={**env, "JAX_COORDINATOR_ADDRESS": f"localhost:{port}",
                                        "JAX_NUM_PROCESSES": str(processes), "JAX_PROCESS_ID": str(i)},
                              cwd=TESTS.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(processes)]
    return procs


def _train(run_dir, steps: int, devices: int, processes: int, resume: bool = False) -> list[str]:
    """`_launch`, then waits for every process; returns their outputs."""
    procs = _launch(run_dir, steps, devices, processes, resume)
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n---\n".join(o[-3000:] for o in outs)
    return outs


def test_two_processes_equal_one_over_the_same_devices_and_write_the_run_once(tmp_path):
    """jax.distributed over 2 CPU processes x 2 devices, with a resume half way, against 1 process x 4."""
    outs = _train(tmp_path / "multi", 4, devices=2, processes=2)
    ours = [[line for line in out.splitlines() if "peer ranks" not in line] for out in outs]  # Gloo's own
    assert "4 cpu devices (cpu) on 2 processes" in outs[0] and ours[1] == []  # only the primary speaks
    _train(tmp_path / "multi", 8, devices=2, processes=2, resume=True)
    _train(tmp_path / "single", 8, devices=4, processes=1)
    rows = {name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("multi", "single")}
    assert [r["step"] for r in rows["multi"]] == [2, 4, 6, 8]  # written once, not once per process
    for a, b in zip(rows["multi"], rows["single"]):
        for k in a.keys() - {"it_per_s"}:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k
    cfg = runs.load_run_config(tmp_path / "single")
    states = []
    for name in ("multi", "single"):
        step, state, ckpt = rundir.restore(tmp_path / name, build.engine(cfg, (28, 28, 1)))
        ckpt.close()
        assert step == 8
        states.append(np.concatenate([np.ravel(x) for x in jax.tree.leaves((state.g_params, state.d_params))]))
    assert np.mean(np.abs(states[0] - states[1]) > 1e-5) < 0.01  # float rounding of the all-reduces, as above
    assert sorted(p.name for p in (tmp_path / "multi" / "samples").iterdir()) == ["step_000004.png", "step_000008.png"]


def test_distributed_needs_the_environment_or_a_cluster(monkeypatch):
    from gan_jax import parallel

    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1")
    monkeypatch.delenv("JAX_NUM_PROCESSES", raising=False)
    with pytest.raises(parallel.DistributedError, match="set all of JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID"):
        parallel.initialize_distributed()


def test_a_signal_to_one_process_stops_every_process_at_the_same_checkpointed_step(tmp_path):
    import signal
    import time

    procs = _launch(tmp_path / "r", 1_000_000, devices=1, processes=2)
    deadline = time.time() + 300
    while not (tmp_path / "r" / "metrics.jsonl").exists() or not (tmp_path / "r" / "metrics.jsonl").read_text():
        assert time.time() < deadline and all(p.poll() is None for p in procs), "the run did not start"
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGTERM)  # the secondary process only
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [128 + signal.SIGTERM] * 2, outs
    steps = Checkpoints(tmp_path / "r" / "checkpoints", 3)
    last = steps.steps()[-1]
    steps.close()
    assert 0 < last < 1_000_000 and last % 2 == 0  # at a log step (train.log_interval=2), the same for both
    assert f"resume with: gan-jax train mnist_gan --run-dir {tmp_path / 'r'} --resume" in outs[0]


def test_a_game_step_on_8_devices_equals_the_step_on_1():
    """Any game, not only the GAN: the three-player test game's step splits every batch over 8 devices."""
    done = _eight_devices(["multidevice_game.py"])
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["devices"] == [8, 1, 8]
    for name, (one, eight) in r["metrics"].items():
        assert eight == pytest.approx(one, rel=1e-4, abs=1e-6), name
    assert r["rest_max_diff"] < 1e-4  # BatchNorm's statistics over the global batch
