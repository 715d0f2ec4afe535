"""Several seeds at once vs one after another: seed-iterations per second of `gan_jax.Seeds` (vmapped,
one compiled call for all seeds) against the same seeds trained as separate runs.

    python benchmarks/bench_seeds.py [--seeds 5] [--iters 2000] [--repeats 3] [--experiments mnist_gan mnist_vae]

Each experiment runs at its own recipe (batch, train.fuse) on 60,000 random images on the device (like full
MNIST); batches are drawn inside the step, as in training. "separate" trains each seed's single engine for
--iters iterations, one seed after another, in this process (so it compiles once; separate processes
would also pay the compile time once per seed, printed beside it). Steady-state rates are medians over
repeats; the ratio is together / separate, measured in the same run. Prints a table and one JSON line.
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


def _timed(advance, state, images, calls: int) -> tuple[object, float]:
    start = time.perf_counter()
    for _ in range(calls):
        state, metrics = advance(state, images)
    jax.block_until_ready((state, metrics))
    return state, time.perf_counter() - start


def measure(experiment: str, seeds: int, iters: int, repeats: int) -> dict:
    cfg = experiments.get_config(experiment)
    fuse = cfg.train.fuse
    calls = max(1, iters // fuse)
    images = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (60_000, 28, 28, 1)).astype(np.float32))
    result = {"experiment": experiment, "seeds": seeds, "fuse": fuse, "iters": calls * fuse}
    for mode, n in (("together", seeds), ("separate", 1)):
        c = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seeds=n))
        eng = build.engine(c, (28, 28, 1))
        advance = xla.jit(run.repeat(eng.train_step, fuse), donate_argnums=0)
        if mode == "together":
            states = [eng.init(build.streams(c))]
        else:  # seed i's own single run, as train.seeds would give it
            states = [eng.init(build.streams(dataclasses.replace(c, seed=c.seed + i, data=dataclasses.replace(
                c.data, seed=c.data.seed + i)))) for i in range(seeds)]
        start = time.perf_counter()
        states[0], metrics = advance(states[0], images)
        jax.block_until_ready(metrics)
        result[f"{mode}_compile_s"] = time.perf_counter() - start
        rates = []
        for _ in range(repeats):
            total = 0.0
            for i in range(len(states)):
                states[i], seconds = _timed(advance, states[i], images, calls)
                total += seconds
            rates.append(seeds * calls * fuse / total)  # seed-iterations per second
        result[f"{mode}_seed_it_per_s"] = statistics.median(rates)
        result[f"{mode}_range"] = [min(rates), max(rates)]
    result["ratio"] = result["together_seed_it_per_s"] / result["separate_seed_it_per_s"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--iters", type=int, default=2000, help="iterations per seed per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--experiments", nargs="+", default=["mnist_gan", "mnist_vae"])
    args = p.parse_args()
    if args.seeds < 1 or args.iters < 1 or args.repeats < 1:
        p.error("--seeds, --iters and --repeats must be >= 1")
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), {args.seeds} seeds, "
          f"{args.repeats} repeats of {args.iters} iterations per seed")
    results = [measure(e, args.seeds, args.iters, args.repeats) for e in args.experiments]
    print(f"{'experiment':<12} {'fuse':>5} {'together seed-it/s':>19} {'separate seed-it/s':>19} {'ratio':>6} "
          f"{'compile s (together / each separate)':>37}")
    for r in results:
        print(f"{r['experiment']:<12} {r['fuse']:>5} {r['together_seed_it_per_s']:>19.1f} "
              f"{r['separate_seed_it_per_s']:>19.1f} {r['ratio']:>6.2f} "
              f"{r['together_compile_s']:>20.1f} / {r['separate_compile_s']:.1f}")
    print(json.dumps({"benchmark": "seeds", "backend": jax.default_backend(), "results": results}))


if __name__ == "__main__":
    main()
