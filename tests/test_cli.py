"""The `gan-jax` command: bad input gets a clear error and exit 2; a run can be stopped and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import experiments

from gan_jax.cli import main

@pytest.mark.parametrize("argv, fragment", [
    (["train", "mnist_gna"], "unknown experiment 'mnist_gna'; available: " + ", ".join(experiments.available())),
    (["train", "mnist_gan", "--set", "train.stepz=3"], "unknown config key 'train.stepz'"),
    (["train", "mnist_gan", "--set", "train.steps=ten"], "train.steps: 'ten' is not a valid int"),
    (["train", "mnist_gan", "--set", "train.batch_size=0"], "train.batch_size: must be > 0, got 0"),
    (["train", "mnist_gan", "--set", "train.steps=-5"], "train.steps: must be >= 0, got -5"),
    (["train", "mnist_gan", "--set", "data.source=npz", "data.path=/nonexistent/mnist.npz"], "is not a file"),
    (["train", "mnist_gan", "--resume"], "--resume needs --run-dir"),
    (["sample", "/nonexistent-run", "--n", "4", "--out", "x.npy"], "is not a run directory"),
])
def test_bad_input_is_a_clear_error_with_no_run_left(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


BAD_ARGS = {  # every subcommand, each with arguments argparse accepts but the command must refuse
    "train": [(["train", "mnist_gan", "--seeds", "0"], "--seeds must be >= 1")],
    "config": [(["config", "mnist_gan", "--set", "optim.d_lr=inf"], "optim.d_lr")],
    "sample": [(["sample", "pretrained:nope", "--n", "4", "--out", "x.npy"], "pretrained"),
               (["sample", "pretrained:mnist_gan", "--n", "4", "--out", "x.gif"], "must end in .npy")],
    "classifier": [(["classifier", "--set", "epochz=3"], "epochz")],
    "eval": [(["eval", "missing.npy"], "is neither a run directory nor a .npy file"),
             (["eval", "pretrained:mnist_gan", "--n", "0"], "--n and --k must be > 0"),
             (["eval", "pretrained:mnist_gan", "--n", "3"], "need more than --k 5")],
    "data": [(["data", "fetch", "no_such_dataset"], "tfds has no dataset 'no_such_dataset'"),
             (["data", "fetch", "mnist", "--data-dir", "EMPTY"], "cannot reach storage.googleapis.com")],
    "translate": [(["translate", "pretrained:edges2digits_pix2pix", "--in", "missing.png", "--out", "y.npy"],
                   "no such file or folder"),
                  (["translate", "pretrained:mnist_gan", "--in", "x.npy", "--out", "y.npy"], "is not a translator")],
    "likelihood": [(["likelihood", "pretrained:mnist_vae", "--k", "0"], "--k must be > 0"),
                   (["likelihood", "no-such-run"], "is not a run directory")],
}


def test_every_subcommand_refuses_bad_arguments_with_exit_2_and_a_message(capsys, tmp_path, monkeypatch):
    from gan_jax.cli import _parser

    import socket

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    commands = set(next(a for a in _parser()._actions if a.dest == "command").choices)
    assert set(BAD_ARGS) == commands  # a new subcommand needs its bad-argument cases here
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(socket, "create_connection", offline)  # never a download in a test
    empty = tmp_path.parent / f"{tmp_path.name}_tfds"  # a tfds folder with nothing prepared
    for command, cases in BAD_ARGS.items():
        for argv, fragment in cases:
            argv = [str(empty) if a == "EMPTY" else a for a in argv]
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith(f"gan-jax {command}: error: ") and fragment in err and "Traceback" not in err, err
            assert len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as stop:  # what argparse itself refuses: a missing argument, exit 2 too
        main(["sample", "pretrained:mnist_gan"])
    assert stop.value.code == 2 and "--n" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_corrupt_data_file(tmp_path, capsys):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"this is not a zip archive")
    code = main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--set", "data.source=npz", f"data.path={bad}"])
    err = capsys.readouterr().err
    assert code == 2 and "not a readable .npz archive (not a zip file" in err and "pickle" not in err
    assert not (tmp_path / "r").exists()


def test_train_then_sample(tmp_path, capsys, tiny_cli):
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--no-progress", *tiny_cli, "train.steps=4",
                 "train.log_interval=100"]) == 0
    out = capsys.readouterr().out
    assert "done at step 4: d_loss" in out and "step_000004.png" in out
    # fewer steps than train.log_interval (100): the last step is logged, so the curves exist
    rows = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [4] and "curves: " in out
    assert (tmp_path / "r" / "curves.png").is_file()
    assert main(["sample", str(tmp_path / "r"), "--n", "5", "--out", str(tmp_path / "x.npy")]) == 0
    x = np.load(tmp_path / "x.npy", allow_pickle=False)
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    assert main(["sample", str(tmp_path / "r"), "--n", "5", "--out", str(tmp_path / "x.txt")]) == 2
    assert main(["sample", str(tmp_path / "r"), "--n", "5", "--out", str(tmp_path / "y.npy"), "--weights", "ema"]) == 2
    assert "keeps no moving average" in capsys.readouterr().err and not (tmp_path / "y.npy").exists()
    assert main(["eval", str(tmp_path / "x.npy"), "--weights", "live"]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "r"), "--n", "20"]) == 0  # trained on the embedded digits: it says so
    assert "this run trained on the 4,000 embedded digits, not full MNIST" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "eval.json").read_text())["trained_on"].startswith("embedded")
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), *tiny_cli]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_mixture_run_samples_points_and_eval_says_it_scores_images(tmp_path, capsys):
    run_dir = str(tmp_path / "m")
    assert main(["train", "ring8_gan", "--run-dir", run_dir, "--no-progress", "--set", "train.steps=4",
                 "data.limit=200"]) == 0
    capsys.readouterr()
    assert main(["sample", run_dir, "--n", "6", "--out", str(tmp_path / "p.npy")]) == 0
    assert capsys.readouterr().out.startswith("wrote 6 2-d points in [")
    assert np.load(tmp_path / "p.npy").shape == (6, 2)
    assert main(["sample", run_dir, "--n", "6", "--out", str(tmp_path / "p.png")]) == 2
    assert "this run's samples are 2-d points" in capsys.readouterr().err and not (tmp_path / "p.png").exists()
    assert main(["eval", run_dir]) == 2
    assert "samples 2-d points, not images" in capsys.readouterr().err


def test_resume_records_what_it_changed_and_refuses_fewer_steps(tmp_path, capsys, tiny_cli):
    run_dir = str(tmp_path / "r")
    assert main(["train", "mnist_gan", "--run-dir", run_dir, "--no-progress", *tiny_cli, "train.steps=4"]) == 0
    capsys.readouterr()
    assert main(["train", "mnist_gan", "--run-dir", run_dir, "--resume", "--no-progress", "--set", "train.steps=2"]) == 2
    assert "steps=2 is below the step the run reached, 4" in capsys.readouterr().err
    assert not (tmp_path / "r" / "config_changes.jsonl").exists()
    assert main(["train", "mnist_gan", "--run-dir", run_dir, "--resume", "--no-progress", "--set", "train.steps=6",
                 "optim.g_lr=0.002"]) == 0
    assert "optim.g_lr: 0.001 -> 0.002" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "r" / "config_changes.jsonl").read_text().splitlines()]
    assert rows == [{"step": 4, "changed": {"optim.g_lr": [0.001, 0.002], "train.steps": [4, 6]}}]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["optim"]["g_lr"] == 0.002
    # what the checkpoints were made with cannot change: refused by name, in one line, nothing recorded
    assert main(["train", "mnist_gan", "--run-dir", run_dir, "--resume", "--no-progress", "--set", "train.steps=8",
                 "model.z_dim=4", "gan.loss=hinge"]) == 2
    err = capsys.readouterr().err
    assert "--resume cannot change gan.loss (non_saturating -> hinge), model.z_dim (8 -> 4): " in err
    assert len(err.strip().splitlines()) == 1 and len(rows) == 1
    assert len((tmp_path / "r" / "config_changes.jsonl").read_text().splitlines()) == 1


def test_config_prints_the_resolved_config(capsys):
    assert main(["config", "mnist_gan", "--set", "train.steps=300"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["steps"] == 300
    # --set before the experiment's name: the name is not swallowed as a KEY=VALUE
    assert main(["config", "--set", "train.steps=301", "model.hidden=64", "mnist_dcgan"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["experiment"] == "mnist_dcgan" and cfg["train"]["steps"] == 301 and cfg["model"]["hidden"] == 64


def test_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path, tiny_cli):
    """A real process: SIGTERM mid-run -> checkpoint at the current step, exit 143; --resume completes it."""
    run_dir = tmp_path / "r"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress",
           *tiny_cli, "train.steps=1000000", "train.checkpoint_interval=1000000"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=Path(__file__).parent.parent)
    deadline = time.time() + 120
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "SIGTERM: saving a checkpoint" in out and "--resume" in out and "Traceback" not in out
    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert len(steps) == 2 and steps[0] == 0 and steps[1] > 0  # step 0 and the step it stopped at
    resumed = subprocess.run([sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir),
                              "--resume", "--no-progress", "--set", f"train.steps={steps[1] + 4}"],
                             capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming {run_dir} from step {steps[1]}" in resumed.stdout
    assert f"done at step {steps[1] + 4}" in resumed.stdout


def test_resume_in_a_new_process_is_bitwise_the_uninterrupted_run(tmp_path, tiny_cli):
    """Three processes: one trains 8 steps straight; one trains 4, and a third resumes it to 8. Their final
    states are equal bit for bit (what a fresh process compiles and restores changes nothing)."""
    from gan_jax import runs
    from test_gan import _equal

    def train(run_dir, steps, *extra):
        r = subprocess.run([sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir),
                            "--no-progress", *extra, *tiny_cli, f"train.steps={steps}"], capture_output=True,
                           text=True, cwd=Path(__file__).parent.parent, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr

    train(tmp_path / "straight", 8)
    train(tmp_path / "stopped", 4)
    train(tmp_path / "stopped", 8, "--resume")
    straight, resumed = runs.load_run(tmp_path / "straight"), runs.load_run(tmp_path / "stopped")
    assert straight.step == resumed.step == 8 and _equal(straight.state, resumed.state)


def test_a_kill_during_an_asynchronous_save_resumes_bitwise(tmp_path, tiny_cli):
    """kill -9 while a checkpoint is written in the background (training goes on meanwhile): the folder of
    the cut save is still there after the kill, and the resumed run drops it, says nothing is damaged and
    ends bitwise equal to the uninterrupted run."""
    from gan_jax import runs
    from test_gan import _equal

    root = Path(__file__).parent.parent
    every_step = ["train.steps=60", "train.checkpoint_interval=1", "train.log_interval=60", "train.sample_interval=60"]

    def train(run_dir, *extra, wait=True):
        cmd = [sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress",
               *extra, *tiny_cli, *every_step]
        if not wait:
            return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    train(tmp_path / "straight")
    for attempt in range(5):  # until a kill lands inside a save (almost always the first: saves are most of a step)
        killed = tmp_path / f"killed{attempt}"
        proc, deadline = train(killed, wait=False), time.time() + 120
        ckpts = killed / "checkpoints"
        while proc.poll() is None and time.time() < deadline:
            if ckpts.is_dir() and any(p.name.isdigit() and p.name != "0" for p in ckpts.iterdir()) and list(
                    ckpts.glob("*.orbax-checkpoint-tmp*")):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL and list(ckpts.glob("*.orbax-checkpoint-tmp*")):
            break
    else:
        pytest.fail("no kill landed inside a save in 5 attempts")
    resumed = train(killed, "--resume")
    assert "damaged" not in resumed.stdout + resumed.stderr and not list(ckpts.glob("*tmp*"))
    straight, after = runs.load_run(tmp_path / "straight"), runs.load_run(killed)
    assert straight.step == after.step == 60 and _equal(straight.state, after.state)


def test_vae_train_then_likelihood(tmp_path, capsys, tiny_cli):
    tiny_vae = ["--set", "data.source=embedded", "data.limit=64", "model.hidden=16", "train.batch_size=8",
                "train.steps=4", "train.fuse=2", "train.log_interval=2", "train.sample_interval=4",
                "train.checkpoint_interval=4"]
    assert main(["train", "mnist_vae", "--run-dir", str(tmp_path / "v"), "--no-progress", *tiny_vae]) == 0
    out = capsys.readouterr().out
    assert "done at step 4: loss" in out and "test elbo" in out
    assert "figures: latent.png, manifold.png, reconstructions.png, interpolations.png, samples_prior.png in " in out
    assert main(["likelihood", str(tmp_path / "v"), "--k", "20", "--n", "50"]) == 0
    result = json.loads((tmp_path / "v" / "likelihood_k20.json").read_text())
    assert result["n_test"] == 50 and result["nll"] <= result["neg_elbo"] + 1.0  # the k-sample bound is tighter
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "g"), "--no-progress", *tiny_cli, "train.steps=4"]) == 0
    capsys.readouterr()
    assert main(["likelihood", str(tmp_path / "g")]) == 2
    assert "the likelihood needs a VAE" in capsys.readouterr().err


def test_version_and_train_help_lists_every_experiment(capsys):
    import experiments

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("gan-jax 0.1")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    listed = " ".join(capsys.readouterr().out.split()).partition("experiments: ")[2].split(", ")
    assert listed == experiments.available()


def test_a_run_says_when_auto_falls_back_to_the_embedded_digits(tmp_path, capsys, tiny_cli):
    args = ["train", "mnist_gan", "--no-progress", *tiny_cli, "train.steps=2", "train.log_interval=2",
            "train.sample_interval=2", "train.checkpoint_interval=2"]
    assert main([*args, "data.source=auto", f"data.data_dir={tmp_path / 'no_tfds'}", "--run-dir",
                 str(tmp_path / "auto")]) == 0
    assert "found no local tfds copy of MNIST, so this run trains on the 4,000 embedded" in capsys.readouterr().out
    assert main([*args, "--run-dir", str(tmp_path / "asked")]) == 0  # data.source=embedded, asked for: no note
    assert "found no local tfds copy" not in capsys.readouterr().out


def test_without_a_terminal_long_runs_print_progress_with_the_time_left(tmp_path, capsys, tiny_cli, monkeypatch):
    from gan_jax import metrics_log

    monkeypatch.setattr(metrics_log, "QUIET_S", 0.0)  # a progress line at every call (default: after 30 s of quiet)
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--no-progress", *tiny_cli,
                 "train.steps=8", "train.sample_interval=8", "train.checkpoint_interval=8"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.endswith(" left")]
    # every step, log step (2, 4, 6) or not: a line does not wait for train.log_interval
    assert [line.split()[1] for line in lines] == [f"{i}/8" for i in range(1, 8)] and "it/s  about" in lines[0]


def test_steps_and_intervals_need_not_be_multiples_of_fuse(tmp_path, capsys, tiny_cli):
    """train.fuse=4 with 10 steps and logs every 5: calls of 4, 1, 4, 1 iterations land on every log step,
    the config keeps fuse=4, and the run ends bitwise where single steps end (the MLP players)."""
    common = [*tiny_cli, "train.steps=10", "train.log_interval=5", "train.sample_interval=10",
              "train.checkpoint_interval=10"]
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "f"), "--no-progress", *common, "train.fuse=4"]) == 0
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "s"), "--no-progress", *common]) == 0
    assert json.loads((tmp_path / "f" / "config.json").read_text())["train"]["fuse"] == 4
    steps = [json.loads(r)["step"] for r in (tmp_path / "f" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10]
    from gan_jax import runs
    from test_gan import _equal

    fused, single = runs.load_run(tmp_path / "f"), runs.load_run(tmp_path / "s")
    assert fused.step == single.step == 10 and _equal(fused.state, single.state)


def test_sample_refuses_to_write_non_finite_images(tmp_path, capsys, tiny_cli, monkeypatch):
    from gan_jax import runs

    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--no-progress", *tiny_cli, "train.steps=4"]) == 0
    real_load = runs.load_run

    def diverged(run_dir, engine=None, trust=False):  # as if the weights had gone to NaN
        loaded = real_load(run_dir, engine, trust)
        bad = jax.tree.map(lambda x: x * np.nan, loaded.state.g_params)
        return loaded._replace(state=loaded.state.replace(g_params=bad))

    monkeypatch.setattr(runs, "load_run", diverged)
    assert main(["sample", str(tmp_path / "r"), "--n", "5", "--out", str(tmp_path / "x.npy")]) == 2
    assert "are NaN or infinite" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()


def test_a_full_disk_stops_the_run_like_a_signal_and_it_resumes(tmp_path, capsys, tiny_cli, monkeypatch):
    import errno

    from gan_jax import checkpoint

    real_save = checkpoint.Checkpoints.save

    def full_at_step_8(self, step, state, extra=None):
        if step == 8:
            (self.directory / "8.orbax-checkpoint-tmp-1").mkdir()  # what a save cut short leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, state, extra)

    monkeypatch.setattr(checkpoint.Checkpoints, "save", full_at_step_8)
    run_dir = tmp_path / "r"
    assert main(["train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress", *tiny_cli, "train.steps=12"]) == 75
    err = capsys.readouterr().err
    assert "no space left on the device of" in err and "The last good checkpoint is step 4" in err
    assert f"resume with: gan-jax train mnist_gan --run-dir {run_dir} --resume" in err and "Traceback" not in err
    assert not list((run_dir / "checkpoints").glob("*tmp*"))
    monkeypatch.setattr(checkpoint.Checkpoints, "save", real_save)
    assert main(["train", "mnist_gan", "--run-dir", str(run_dir), "--resume", "--no-progress"]) == 0
    assert "done at step 12" in capsys.readouterr().out


def test_a_full_disk_under_a_background_save_names_its_step_and_leaves_no_tmp(tmp_path, capsys, tiny_cli,
                                                                             monkeypatch):
    import orbax.checkpoint as ocp

    real_wait, failed = ocp.CheckpointManager.wait_until_finished, []

    def writing_step_8_fails(self):  # the write went on beside training, and failed there
        real_wait(self)
        step_8 = Path(str(self.directory)) / "8"
        if step_8.is_dir() and not failed:
            failed.append(8)
            step_8.rename(step_8.with_name("8.orbax-checkpoint-tmp-1"))  # it never got renamed
            raise ValueError("Error writing local file: [OS error: No space left on device]")

    monkeypatch.setattr(ocp.CheckpointManager, "wait_until_finished", writing_step_8_fails)
    run_dir = tmp_path / "r"
    assert main(["train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress", *tiny_cli, "train.steps=12"]) == 75
    err = capsys.readouterr().err
    assert "while saving a checkpoint at step 8" in err and "The last good checkpoint is step 4" in err
    assert "Traceback" not in err and not list((run_dir / "checkpoints").glob("*tmp*"))


def test_a_dead_tensorboard_writer_on_a_full_disk_stops_the_run_instead_of_hanging(tmp_path, capsys, tiny_cli,
                                                                                   monkeypatch):
    import collections
    import shutil

    from tensorboardX import event_file_writer

    from gan_jax import run

    real_usage = shutil.disk_usage
    monkeypatch.setattr(event_file_writer._EventLoggerThread, "is_alive", lambda self: False)  # died on ENOSPC
    monkeypatch.setattr(run.shutil, "disk_usage",
                        lambda p: collections.namedtuple("u", "total used free")(1, 1, 1000) if "r" in str(p)
                        else real_usage(p))
    run_dir = tmp_path / "r"
    assert main(["train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress", *tiny_cli, "train.steps=8"]) == 75
    err = capsys.readouterr().err
    assert "no space left on the device of" in err and "while writing the logs" in err and "resume with:" in err


def test_two_processes_on_one_run_directory_never_destroy_each_other(tmp_path, tiny_cli):
    """Two real `train` processes started together on one directory: one trains, the other stops with a
    clear error and deletes nothing; `--resume` into the live run is refused the same way."""
    import signal

    run_dir = tmp_path / "r"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress",
           *tiny_cli, "train.steps=1000000", "train.checkpoint_interval=1000000", "train.sample_interval=1000000"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).parent.parent
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=root)
             for _ in range(2)]
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / "0").is_dir() and time.time() < deadline:
        time.sleep(0.2)
    resume = subprocess.run([*cmd[:7], "--resume", "--no-progress"], capture_output=True, text=True, env=env, cwd=root)
    assert resume.returncode == 2 and "is in use: a run (pid" in resume.stderr
    while all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.2)
    loser = [p for p in procs if p.poll() is not None]
    assert len(loser) == 1 and loser[0].returncode == 2
    said = loser[0].communicate()[0]
    assert "is in use" in said or "already exists" in said
    survivor = next(p for p in procs if p is not loser[0])
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=120) == 143
    for name in ("config.json", "data.json", "metrics.jsonl"):
        assert (run_dir / name).is_file()
    assert len([p for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()]) == 2  # step 0 and the stop


def test_every_run_names_its_backend_and_devices(tmp_path, capsys, tiny_cli):
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--no-progress", *tiny_cli, "train.steps=2",
                 "train.sample_interval=2", "train.checkpoint_interval=2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"1 {jax.default_backend()} device ({jax.devices()[0].device_kind}) of {jax.device_count()}, steps 0 -> 2" in first
