"""What each experiment costs here: a short real run of every experiment (`gan-jax train EXP` as shipped,
its batch, fuse and intervals; only train.steps shortened), timed, and its full length projected.

    python benchmarks/bench_experiments.py [--experiments mnist_gan mnist_dcgan] [--scale 1.0]
        [--set data.source=npz data.path=/path/to/mnist.npz] [--json out.json]

For each experiment: the fixed cost is the wall time of the short run less its loop (data loading, the
first compile, the step-0 and last checkpoints, an autoencoder's end-of-run report); it/s is the loop's rate from the run's own metrics.jsonl rows
(the steps logged over the seconds they took, previews and checkpoints inside the window included); the
full run is the fixed cost + train.steps / it/s. The short runs' lengths (`STEPS`, times --scale) are fixed per
experiment so that each takes 10-60 s on 2 cores. Runs go to a temporary folder, one after another (never
beside other heavy work: the machine's load is the figure's error). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

import experiments  # noqa: E402
from benchmarks._timing import loop_rate  # noqa: E402
from gan_jax import build, runs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402
from gan_jax.metrics_log import _duration  # noqa: E402

STEPS = {"mnist_dcgan": 200, "mnist_dcgan_tuned": 200, "mnist_cgan": 400, "mnist_cgan_projection": 400,
         "mnist_acgan": 400, "mnist_gan": 3000, "mnist_sgan": 1000, "mnist_sgan_supervised": 2000,
         "mnist_vae50": 5000}  # the rest: 4000 (MLPs fused 100 at a time)


def measure(experiment: str, overrides: list[str], scale: float) -> dict:
    cfg = config_lib.apply_overrides(experiments.get_config(experiment), overrides)
    full = cfg.train.steps
    fuse = build.fuse_of(cfg)
    steps = max(fuse, int(STEPS.get(experiment, 4000) * scale) // fuse * fuse)
    short = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps))
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        outcome = runs.start(short, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - start
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    done, loop = loop_rate(rows)
    it_s = done / loop
    fixed = max(wall - loop, 0.0)
    return {"experiment": experiment, "model": cfg.model.name, "batch": cfg.train.batch_size, "fuse": fuse,
            "seeds": cfg.train.seeds, "measured_steps": outcome.step, "it_per_s": it_s, "fixed_s": fixed,
            "steps": full, "full_run_s": fixed + full / it_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiments", nargs="+", default=experiments.available())
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the short runs' lengths")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.default_backend()} device(s)", flush=True)
    print(f"{'experiment':24} {'model':22} {'batch':>5} {'fuse':>4} {'it/s':>8} {'fixed':>9} "
          f"{'steps':>7} {'full run':>11}", flush=True)
    results = []
    for name in args.experiments:
        r = measure(name, args.overrides, args.scale)
        results.append(r)
        model = r["model"].rpartition(":")[2] if ":" in r["model"] else r["model"]
        print(f"{name:24} {model:22} {r['batch']:>5} {r['fuse']:>4} {r['it_per_s']:>8.1f} "
              f"{r['fixed_s']:>8.1f}s {r['steps']:>7} {_duration(r['full_run_s']):>11}", flush=True)
    print(json.dumps({"bench": "experiments", "results": results}))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
