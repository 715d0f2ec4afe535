"""Steady-state speed of the book's ch3 MLP GAN iteration (batch 128), single-step and fused.

    python benchmarks/bench_mlp_gan.py [--iters 2000] [--repeats 5] [--fuse 1 10 100]

An iteration is the book's: D's Adam step on a real batch, D's on a fake batch, G's through D. The data
(60,000 random images, like full MNIST) lives on the device and batches are drawn inside the step, as in
training. Compile time (the first call) is reported separately; iterations/s is the median over repeats.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import experiments  # noqa: E402
from gan_jax import build, run, xla  # noqa: E402


def measure(fuse: int, iters: int, repeats: int) -> dict:
    cfg = experiments.get_config("mnist_gan")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, fuse=fuse, steps=fuse))
    gan = build.engine(cfg, (28, 28, 1))
    advance = xla.jit(run.repeat(gan.train_step, cfg.train.fuse), donate_argnums=0)
    images = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (60_000, 28, 28, 1)).astype(np.float32))
    state = gan.init(build.streams(cfg))
    start = time.perf_counter()
    state, metrics = advance(state, images)
    jax.block_until_ready((state, metrics))
    compile_s = time.perf_counter() - start
    calls = max(1, iters // fuse)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            state, metrics = advance(state, images)
        jax.block_until_ready((state, metrics))
        rates.append(calls * fuse / (time.perf_counter() - start))
    return {"fuse": fuse, "compile_s": compile_s, "it_per_s": statistics.median(rates),
            "it_per_s_min": min(rates), "it_per_s_max": max(rates)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=2000, help="iterations per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fuse", type=int, nargs="+", default=[1, 10, 100], help="iterations per compiled call")
    args = p.parse_args()
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), batch 128, "
          f"{args.repeats} repeats of {args.iters} iterations")
    results = [measure(k, args.iters, args.repeats) for k in args.fuse]
    print(f"{'fuse':>6} {'compile s':>10} {'it/s (median)':>14} {'min':>8} {'max':>8}")
    for r in results:
        print(f"{r['fuse']:>6} {r['compile_s']:>10.2f} {r['it_per_s']:>14.1f} {r['it_per_s_min']:>8.1f} {r['it_per_s_max']:>8.1f}")
    print(json.dumps({"benchmark": "mlp_gan", "backend": jax.default_backend(), "results": results}))


if __name__ == "__main__":
    main()
