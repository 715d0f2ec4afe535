"""The evaluator's k-NN radii (`gan_jax.metrics.evaluate.knn_radii`): the k passes it takes today against
`jax.lax.top_k`, the obvious way, on the reference's size (10,000 x 128 features, as the shipped
evaluator's MNIST test digits), in one process, so the ratio is measured side by side.

    python benchmarks/bench_knn_radii.py [--n 10000] [--features 128] [--k 5] [--repeats 3]

Both compute the same order statistic; the script checks the radii are equal bit for bit and prints a
table and one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._timing import median_s  # noqa: E402
from gan_jax.metrics import evaluate  # noqa: E402


@functools.partial(jax.jit, static_argnums=2)
def _top_k_block(queries, points, k):
    d2 = evaluate._sq_dists(queries, points)
    return jnp.sqrt(jnp.maximum(-jax.lax.top_k(-d2, k + 1)[0][:, k], 0.0))


def _top_k_radii(features, k):
    f = jnp.asarray(features, jnp.float32)
    return evaluate._in_blocks(_top_k_block, (f,), f, k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    f = np.random.default_rng(0).normal(size=(args.n, args.features)).astype(np.float32)
    ours, top_k = evaluate.knn_radii(f, args.k), _top_k_radii(f, args.k)
    equal = bool(np.array_equal(ours, top_k))
    t_ours = median_s(lambda: evaluate.knn_radii(f, args.k), args.repeats)
    t_top_k = median_s(lambda: _top_k_radii(f, args.k), args.repeats)
    print(f"{args.n} x {args.features} features, k={args.k}, {jax.default_backend()}, median of {args.repeats}")
    print(f"knn_radii (k passes)  {t_ours:8.3f} s")
    print(f"lax.top_k             {t_top_k:8.3f} s")
    print(f"top_k / ours          {t_top_k / t_ours:8.1f}x   radii equal bit for bit: {equal}")
    print(json.dumps({"n": args.n, "features": args.features, "k": args.k, "backend": jax.default_backend(),
                      "ours_s": t_ours, "top_k_s": t_top_k, "ratio": t_top_k / t_ours, "equal": equal}))
    if not equal:
        sys.exit("the radii differ")


if __name__ == "__main__":
    main()
