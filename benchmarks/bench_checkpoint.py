"""What checking a checkpoint's arrays costs: the sha256 of a state (`gan_jax.checkpoint.digest_arrays`)
against the time orbax takes to save and to restore the same state, for the MLP GAN and the DCGAN.

    python benchmarks/bench_checkpoint.py [--repeats 5] [--experiments mnist_gan mnist_dcgan]

Each save is what a run does at a checkpoint step (orbax's synchronous save, then the digest); each
restore reads the newest step back and verifies it. Medians over repeats, in one process, so the share
"digest / save" and "digest / restore" are ratios measured side by side. Prints a table and one JSON line.
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
from gan_jax import build  # noqa: E402
from gan_jax.checkpoint import Checkpoints, digest_arrays, to_nested  # noqa: E402


def _median_s(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(experiment: str, repeats: int) -> dict:
    eng = build.engine(experiments.get_config(experiment), (28, 28, 1))
    state = jax.block_until_ready(eng.init(0))
    n_bytes = sum(x.nbytes for x in jax.tree.leaves(to_nested(state)))
    with tempfile.TemporaryDirectory() as folder:
        ckpts = Checkpoints(Path(folder) / "checkpoints", keep=2)
        step = iter(range(1, 10_000))
        save = _median_s(lambda: ckpts.save(next(step), state), repeats)  # orbax + digest, as in a run
        digest = _median_s(lambda: digest_arrays(to_nested(state)), repeats)
        restore = _median_s(lambda: ckpts.restore(state), repeats)  # read + verify
        ckpts.close()
    return {"experiment": experiment, "state_mb": n_bytes / 2**20, "save_ms": 1e3 * save, "restore_ms": 1e3 * restore,
            "digest_ms": 1e3 * digest, "digest_share_of_save": digest / save, "digest_share_of_restore": digest / restore}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--experiments", nargs="+", default=["mnist_gan", "mnist_dcgan"])
    args = p.parse_args()
    rows = [measure(e, args.repeats) for e in args.experiments]
    print(f"{'experiment':<14} {'state MB':>9} {'save ms':>9} {'restore ms':>11} {'digest ms':>10} "
          f"{'of save':>8} {'of restore':>11}")
    for r in rows:
        print(f"{r['experiment']:<14} {r['state_mb']:>9.1f} {r['save_ms']:>9.1f} {r['restore_ms']:>11.1f} "
              f"{r['digest_ms']:>10.1f} {r['digest_share_of_save']:>8.1%} {r['digest_share_of_restore']:>11.1%}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
