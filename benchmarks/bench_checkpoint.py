"""What a checkpoint costs the run loop: a synchronous save, the part of an asynchronous save the loop
waits for (the copy off the device and the sha256; the writing goes on beside training), the sha256 alone
(`gan_jax.checkpoint.digest_arrays`) and a verified restore, for the MLP GAN and the DCGAN.

    python benchmarks/bench_checkpoint.py [--repeats 5] [--experiments mnist_gan mnist_dcgan]

Each save is what a run does at a checkpoint step; the asynchronous one is timed to its return and then
waited for outside the timing (a run's next save is an interval later). Medians over repeats, in one
process, so "async / sync" and "digest / save" are ratios measured side by side. Prints a table and one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

import experiments  # noqa: E402
from benchmarks._timing import median_s  # noqa: E402
from gan_jax import build  # noqa: E402
from gan_jax.checkpoint import Checkpoints, digest_arrays, to_nested  # noqa: E402


def measure(experiment: str, repeats: int) -> dict:
    eng = build.engine(experiments.get_config(experiment), (28, 28, 1))
    state = jax.block_until_ready(eng.init(0))
    n_bytes = sum(x.nbytes for x in jax.tree.leaves(to_nested(state)))
    with tempfile.TemporaryDirectory() as folder:
        ckpts = Checkpoints(Path(folder) / "checkpoints", keep=2)
        step = iter(range(1, 10_000))
        save = median_s(lambda: ckpts.save(next(step), state), repeats, warm=False)  # orbax + digest, waited for
        ckpts.close()
        ckpts = Checkpoints(Path(folder) / "checkpoints", keep=2, asynchronous=True)
        returns = []
        for _ in range(repeats):
            ckpts.wait()  # the previous one, outside the timing
            start = time.perf_counter()
            ckpts.save(next(step), state)
            returns.append(time.perf_counter() - start)
        ckpts.wait()
        save_async = statistics.median(returns)
        digest = median_s(lambda: digest_arrays(to_nested(state)), repeats, warm=False)
        restore = median_s(lambda: ckpts.restore(state), repeats, warm=False)  # read + verify
        ckpts.close()
    return {"experiment": experiment, "state_mb": n_bytes / 2**20, "save_ms": 1e3 * save,
            "async_save_returns_ms": 1e3 * save_async, "async_over_sync": save_async / save, "restore_ms": 1e3 * restore,
            "digest_ms": 1e3 * digest, "digest_share_of_save": digest / save, "digest_share_of_restore": digest / restore}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--experiments", nargs="+", default=["mnist_gan", "mnist_dcgan"])
    args = p.parse_args()
    rows = [measure(e, args.repeats) for e in args.experiments]
    print(f"{'experiment':<14} {'state MB':>9} {'save ms':>9} {'async ms':>9} {'async/sync':>10} {'restore ms':>11} "
          f"{'digest ms':>10} {'of save':>8} {'of restore':>11}")
    for r in rows:
        print(f"{r['experiment']:<14} {r['state_mb']:>9.1f} {r['save_ms']:>9.1f} {r['async_save_returns_ms']:>9.1f} "
              f"{r['async_over_sync']:>10.2f} {r['restore_ms']:>11.1f} "
              f"{r['digest_ms']:>10.1f} {r['digest_share_of_save']:>8.1%} {r['digest_share_of_restore']:>11.1%}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
