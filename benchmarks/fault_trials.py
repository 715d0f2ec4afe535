"""Fault trials: what happens to real runs, tried on a tiny MLP GAN through the `gan-jax` command, counted.

    python benchmarks/fault_trials.py [--kills 13] [--save-kills 10] [--signals 10] [--seed 0] [--out DIR]

Kinds of trial, each against an uninterrupted run of the same config (its final state's digest):
  kill -9         at a random moment of a run (start-up included), then `--resume` (or a fresh start when
                  the kill left no run directory) until it finishes: resumed bitwise? work lost?
  kill -9, saving the same with a checkpoint at every step, so that most kills land inside a save
  SIGINT/SIGTERM  at a random moment: exit 130/143 with a resume hint and no traceback, then resumed bitwise?
  damage          one kind of damage to the newest checkpoint of a run stopped half way (metadata, checksum
                  and array data: bit flips and random overwrites), then `gan-jax sample` (must not change
                  the run) and `--resume` to the end: detected (a warning naming the checkpoint, or a clear
                  refusal), or harmless (not detected, but the run still ends bitwise equal), or silent
                  (neither: the bad case), or a crash (a traceback)
  bad input       malformed data files and config values: exit 2, one line, no traceback, no run directory
Prints a table and one JSON line. About 10 minutes on 2 cores; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

TINY = ["model.hidden=16", "model.d_hidden=16", "model.z_dim=8", "train.batch_size=8", "data.source=embedded",
        "data.limit=64", "train.log_interval=50", "train.sample_interval=1000"]
STEPS, EVERY = 3000, 250  # the runs killed at random, checkpoints every EVERY steps
SAVE_STEPS = 60  # the runs killed while saving: a checkpoint at every step


def gan_jax(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_jax.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def train_args(run_dir: Path, steps: int, every: int, resume: bool = False) -> list[str]:
    return ["train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress", *(["--resume"] if resume else []),
            "--set", *TINY, f"train.steps={steps}", f"train.checkpoint_interval={every}"]


def digest(run_dir: Path) -> str:
    """The sha256 of the run's newest state (read-only)."""
    from gan_jax import runs
    from gan_jax.checkpoint import digest_arrays, to_nested

    return digest_arrays(to_nested(runs.load_run(run_dir).state))


def finish(run_dir: Path, steps: int, every: int) -> tuple[bool, str]:
    """Resumes (or starts, when nothing is left) until the run finishes; (finished cleanly, all stderr)."""
    errors = ""
    for _ in range(3):
        r = gan_jax(*train_args(run_dir, steps, every, resume=run_dir.exists()))
        errors += r.stderr
        if r.returncode == 0:
            return "Traceback" not in errors, errors
    return False, errors


def steps_saved(run_dir: Path) -> int:
    d = run_dir / "checkpoints"
    return max((int(p.name) for p in d.iterdir() if p.name.isdigit()), default=-1) if d.is_dir() else -1


def kill_trials(out: Path, n: int, steps: int, every: int, reference: str, sig: int, rng: random.Random,
                label: str) -> dict:
    """Starts a run, sends `sig` after a random delay, then finishes it; counts bitwise resumes."""
    bitwise = clean = 0
    lost = []
    for i in range(n):
        run_dir = out / f"{label}{i}"
        proc = subprocess.Popen([sys.executable, "-m", "gan_jax.cli", *train_args(run_dir, steps, every)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(1.0, 9.0))
        reached = -1
        metrics = run_dir / "metrics.jsonl"
        if metrics.is_file():  # the step the run was at (its last log row), to count the work lost
            rows = [line for line in metrics.read_text().splitlines() if line.strip()]
            reached = json.loads(rows[-1])["step"] if rows else 0
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=300)
        if sig == signal.SIGKILL:
            clean += proc.returncode in (-9, 0)
        else:  # exit 128 + n (or 0 when it came too late to matter) with a resume hint and no traceback; or,
            # before the run directory existed (Python still importing), Python's own way, leaving nothing
            clean += ((proc.returncode in (0, 128 + sig) and "Traceback" not in stderr
                       and (proc.returncode == 0 or "--resume" in stdout + stderr or not run_dir.exists()))
                      or not run_dir.exists())
        if reached >= 0:
            lost.append(max(reached - max(steps_saved(run_dir), 0), 0))
        ok, _ = finish(run_dir, steps, every)
        bitwise += ok and digest(run_dir) == reference
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"kind": label, "trials": n, "clean": clean, "bitwise": bitwise, "max_lost_steps": max(lost, default=0)}


# -- damage to the newest checkpoint ---------------------------------------------------------------------

def _files(step_dir: Path, under: str) -> list[Path]:
    return sorted(p for p in (step_dir / under).rglob("*") if p.is_file() and p.stat().st_size > 0)


def _data_files(step_dir: Path) -> list[Path]:
    """The array data: the OCDBT data files (`d/<hash>`)."""
    return [p for p in _files(step_dir, "default") if p.parent.name == "d"]


def _somewhere(step_dir: Path, rng: random.Random, span: int) -> tuple[Path, int]:
    """A random place in the step's array data, every byte equally likely: (file, offset)."""
    files = _data_files(step_dir)
    sizes = [max(p.stat().st_size - span + 1, 1) for p in files]
    i = rng.randrange(sum(sizes))
    for path, size in zip(files, sizes):
        if i < size:
            return path, i
        i -= size
    raise AssertionError("unreachable")


def _flip_bit(step_dir: Path, rng: random.Random) -> None:
    path, i = _somewhere(step_dir, rng, 1)
    raw = bytearray(path.read_bytes())
    raw[i] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(raw))


def _overwrite(step_dir: Path, rng: random.Random) -> None:
    path, i = _somewhere(step_dir, rng, 16)
    raw = bytearray(path.read_bytes())
    raw[i:i + 16] = bytes(rng.randrange(256) for _ in range(len(raw[i:i + 16])))
    path.write_bytes(bytes(raw))


def damages(rng: random.Random) -> list[tuple[str, str, object]]:
    """(name, metadata|arrays, damage(step_dir)) for every kind tried."""
    def garbage(rel):
        return lambda d: (d / rel).write_bytes(b"\x00garbage{")

    def delete(rel):
        return lambda d: shutil.rmtree(d / rel) if (d / rel).is_dir() else (d / rel).unlink()

    def truncate(rel):
        return lambda d: (d / rel).write_bytes((d / rel).read_bytes()[: (d / rel).stat().st_size // 2])

    def checksum(value):  # the sha256 in the step's orbax metadata set to value (None: removed)
        def damage(d):
            meta = json.loads((d / "_CHECKPOINT_METADATA").read_text())
            custom = meta.get("custom_metadata") or {}
            custom.pop("gan_jax_sha256") if value is None else custom.update(gan_jax_sha256=value)
            meta["custom_metadata"] = custom
            (d / "_CHECKPOINT_METADATA").write_text(json.dumps(meta))
        return damage

    def empty_step(d):
        for p in list(d.iterdir()):
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    kinds = [("delete _CHECKPOINT_METADATA", "metadata", delete("_CHECKPOINT_METADATA")),
             ("garbage _CHECKPOINT_METADATA", "metadata", garbage("_CHECKPOINT_METADATA")),
             ("delete default/_METADATA", "metadata", delete("default/_METADATA")),
             ("garbage default/_METADATA", "metadata", garbage("default/_METADATA")),
             ("truncate default/_METADATA", "metadata", truncate("default/_METADATA")),
             ("delete default/manifest.ocdbt", "metadata", delete("default/manifest.ocdbt")),
             ("garbage default/manifest.ocdbt", "metadata", garbage("default/manifest.ocdbt")),
             ("delete commit_success.txt", "metadata", delete("commit_success.txt")),
             ("delete default/array_metadatas", "metadata", delete("default/array_metadatas")),
             ("garbage default/_sharding", "metadata", garbage("default/_sharding")),
             ("remove the checksum from the metadata", "metadata", checksum(None)),
             ("garbage checksum in the metadata", "metadata", checksum("\x00garbage{")),
             ("a wrong checksum", "metadata", checksum("0" * 64)),
             ("delete default/", "metadata", delete("default")),
             ("delete default/ocdbt.process_0/", "metadata", delete("default/ocdbt.process_0")),
             ("empty the step folder", "metadata", empty_step)]
    for i in range(6):  # at a random byte of the array data
        kinds.append((f"flip one bit in array data ({i + 1})", "arrays", lambda d: _flip_bit(d, rng)))
    for i in range(6):
        kinds.append((f"overwrite 16 bytes of array data ({i + 1})", "arrays", lambda d: _overwrite(d, rng)))
    def truncate_data(d):  # the file holding a random byte of the array data (big files more likely)
        path = _somewhere(d, rng, 1)[0]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    kinds += [("truncate an array data file", "arrays", truncate_data),
              ("delete an array data file", "arrays", lambda d: _somewhere(d, rng, 1)[0].unlink())]
    return kinds


def _snapshot(run_dir: Path) -> dict:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*")}


def damage_trials(out: Path, reference: str, rng: random.Random) -> list[dict]:
    half = out / "half"
    r = gan_jax(*train_args(half, STEPS // 2, EVERY))
    assert r.returncode == 0, r.stderr
    rows = []
    for name, part, damage in damages(rng):
        run_dir = out / "damaged"
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(half, run_dir)
        damage(run_dir / "checkpoints" / str(STEPS // 2))
        before = _snapshot(run_dir)
        s = gan_jax("sample", str(run_dir), "--n", "4", "--out", str(out / "x.npy"))
        sample_ok = "Traceback" not in s.stderr and s.returncode in (0, 2) and _snapshot(run_dir) == before
        r = gan_jax(*train_args(run_dir, STEPS, EVERY, resume=True))
        crashed = "Traceback" in r.stderr or r.returncode not in (0, 2)
        detected = "is damaged" in r.stderr or (r.returncode == 2 and not crashed)
        same = r.returncode == 0 and digest(run_dir) == reference
        outcome = "crash" if crashed else "detected" if detected else "harmless" if same else "silent"
        rows.append({"damage": name, "part": part, "outcome": outcome, "resumed_bitwise": same,
                     "sample_left_the_run_alone": sample_ok,
                     "message": (r.stderr.strip().splitlines() or [""])[-1][:200]})
        print(f"  {name:42} {outcome:9} bitwise={same} sample_ok={sample_ok}", flush=True)
    return rows


# -- malformed input ---------------------------------------------------------------------------------------

def bad_inputs(out: Path) -> list[tuple[str, list[str]]]:
    from gan_jax import data

    x = data.load(data.DataConfig(source="embedded")).images
    x = np.round((x[:64] + 1) * 127.5).astype(np.uint8)[..., 0]
    y = np.arange(64) % 10
    cases = {"a NaN pixel": (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x.astype(np.float32)), y),
             "an infinite pixel": (np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x.astype(np.float32)), y),
             "all pixels NaN": (np.full(x.shape, np.nan, np.float32), y),
             "float pixels in [0, 1]": (x / 255.0, y), "float pixels in [-1, 1]": (x / 127.5 - 1, y),
             "pixels above 255": (x.astype(np.int32) * 2, y), "negative pixels": (x.astype(np.int32) - 300, y),
             "float labels": (x, y + 0.5), "string labels": (x, y.astype(str)),
             "labels of the wrong length": (x, y[:10]), "2-d labels": (x, y[:, None]),
             "1-d images": (x.reshape(-1), y), "no images": (x[:0], y[:0]),
             "object pixels": (x.astype(object), y)}
    made = []
    for name, (images, labels) in cases.items():
        path = out / f"{len(made)}.npz"
        np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
        made.append((name, ["data.source=npz", f"data.path={path}"]))
    (out / "nokey.npz").write_bytes(b"")
    np.savez(out / "nokey.npz", images=x, labels=y)
    (out / "notzip.npz").write_bytes(b"this is not a zip archive")
    good = out / "good.npz"
    np.savez(good, x_train=x, y_train=y, x_test=x, y_test=y)
    (out / "torn.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (out / "idx").mkdir(exist_ok=True)
    (out / "idx" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x07\x03garbage")
    (out / "idx" / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01")
    made += [("an npz without x_train", ["data.source=npz", f"data.path={out / 'nokey.npz'}"]),
             ("not a zip archive", ["data.source=npz", f"data.path={out / 'notzip.npz'}"]),
             ("a torn npz", ["data.source=npz", f"data.path={out / 'torn.npz'}"]),
             ("no such file", ["data.source=npz", f"data.path={out / 'missing.npz'}"]),
             ("an IDX file with a bad magic number", ["data.source=idx", f"data.path={out / 'idx'}"]),
             ("labels outside 0..K-1 (model.classes=5)", ["model.classes=5"]),
             ("seed = 2^63", ["seed=9223372036854775808"]), ("seed = -1", ["seed=-1"]),
             ("data.seed = -1", ["data.seed=-1"]), ("sample_seed = 2^64", ["sample_seed=18446744073709551616"]),
             ("optim.d_lr = inf", ["optim.d_lr=inf"]), ("optim.g_lr = nan", ["optim.g_lr=nan"]),
             ("optim.d_lr = 0", ["optim.d_lr=0"]), ("train.steps = -1", ["train.steps=-1"]),
             ("train.batch_size = 0", ["train.batch_size=0"]), ("train.fuse = -1", ["train.fuse=-1"]),
             ("model.z_dim = 0", ["model.z_dim=0"]), ("train.seeds = 0", ["train.seeds=0"]),
             ("an unknown key", ["train.stepz=3"]), ("a wrong type", ["train.steps=ten"]),
             ("data.digit = 12", ["data.digit=12"]), ("gan.loss unknown", ["gan.loss=nope"]),
             ("model.name a missing module", ["model.name=no_such_pkg.nets:players"]),
             ("data.source unknown", ["data.source=mnist"]), ("gan.top_k = 2", ["gan.top_k=2"])]
    return made


def input_trials(out: Path) -> list[dict]:
    rows = []
    for i, (name, overrides) in enumerate(bad_inputs(out)):
        run_dir = out / f"bad{i}"
        # a tiny run but for the keys under test (theirs come last and win)
        r = gan_jax("train", "mnist_gan", "--run-dir", str(run_dir), "--no-progress", "--set", *TINY,
                    "train.steps=4", *overrides)
        lines = r.stderr.strip().splitlines()
        clear = (r.returncode == 2 and "Traceback" not in r.stderr and len(lines) == 1 and "error:" in lines[0])
        rows.append({"input": name, "clear_error": clear and not run_dir.exists(), "exit": r.returncode,
                     "message": (lines or [""])[-1][:200]})
        print(f"  {name:42} exit {r.returncode}  {(lines or [''])[-1][:110]}", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=13)
    p.add_argument("--save-kills", type=int, default=10)
    p.add_argument("--signals", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="/tmp/fault_trials", help="scratch folder (emptied first)")
    a = p.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(a.seed)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    start = time.perf_counter()
    refs = {}
    for steps, every in ((STEPS, EVERY), (SAVE_STEPS, 1)):
        r = gan_jax(*train_args(out / f"ref{steps}", steps, every))
        assert r.returncode == 0, r.stderr
        refs[steps] = digest(out / f"ref{steps}")
    print("kills and signals", flush=True)
    rows = [kill_trials(out, a.kills, STEPS, EVERY, refs[STEPS], signal.SIGKILL, rng, "kill -9"),
            kill_trials(out, a.save_kills, SAVE_STEPS, 1, refs[SAVE_STEPS], signal.SIGKILL, rng, "kill -9, saving"),
            kill_trials(out, (a.signals + 1) // 2, STEPS, EVERY, refs[STEPS], signal.SIGINT, rng, "SIGINT"),
            kill_trials(out, a.signals // 2, STEPS, EVERY, refs[STEPS], signal.SIGTERM, rng, "SIGTERM")]
    print("damage to the newest checkpoint (a run stopped half way), then sample and --resume", flush=True)
    damage = damage_trials(out, refs[STEPS], rng)
    print("malformed input", flush=True)
    inputs = input_trials(out)
    print(f"\n{'trial':28} {'n':>3}  result")
    for r in rows:
        print(f"{r['kind']:28} {r['trials']:>3}  {r['bitwise']} resumed bitwise, {r['clean']} stopped cleanly, "
              f"at most {r['max_lost_steps']} steps lost (checkpoints every {1 if 'saving' in r['kind'] else EVERY})")
    for part in ("metadata", "arrays"):
        got = [d for d in damage if d["part"] == part]
        count = {k: sum(d["outcome"] == k for d in got) for k in ("detected", "harmless", "silent", "crash")}
        print(f"{'damage: ' + part:28} {len(got):>3}  {count['detected']} detected, {count['harmless']} harmless "
              f"(bitwise anyway), {count['silent']} silent, {count['crash']} crashed; "
              f"{sum(d['resumed_bitwise'] for d in got)} resumed bitwise; sample left the run alone in "
              f"{sum(d['sample_left_the_run_alone'] for d in got)}")
    print(f"{'malformed input':28} {len(inputs):>3}  {sum(r['clear_error'] for r in inputs)} clear one-line errors "
          f"(exit 2, no run directory)")
    print(f"({time.perf_counter() - start:.0f} s)")
    print(json.dumps({"bench": "fault_trials", "kills": rows, "damage": damage, "inputs": inputs}))


if __name__ == "__main__":
    main()
