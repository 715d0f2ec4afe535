"""How far K fused DCGAN iterations (one `lax.scan` call) land from K single steps, beside how far K single
steps land from themselves compiled another way (XLA:CPU's Eigen or YNNPACK convolutions): both are
rounding, so the two columns should be alike.

    python benchmarks/bench_fused_dcgan.py [--batch 16] [--steps 1 2 3 5 10 20]

The distance is the norm of the parameter difference (G and D) over the norm of how far the single-step
run moved from its initial parameters. Uniform-noise images (the figure is about the arithmetic, not
the data). Prints a table and one JSON line; ~2 min on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import experiments  # noqa: E402
from gan_jax import build, xla  # noqa: E402
from gan_jax.run import repeat  # noqa: E402


def _params(state) -> np.ndarray:
    leaves = jax.tree.leaves((state.g_params, state.d_params))
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 5, 10, 20])
    args = p.parse_args()
    cfg = experiments.get_config("mnist_dcgan")
    eng = build.engine(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=args.batch)), (28, 28, 1))
    images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (256, 28, 28, 1)).astype(np.float32))
    start = _params(eng.init(0))
    singles = {"gj.jit": xla.jit(eng.train_step), "jax.jit": jax.jit(eng.train_step)}
    rows = []
    for k in args.steps:
        ends = {}
        for name, step in singles.items():
            state = eng.init(0)
            for _ in range(k):
                state, _ = step(state, images)
            ends[name] = _params(state)
        fused = _params(xla.jit(repeat(eng.train_step, k))(eng.init(0), images)[0])
        moved = np.linalg.norm(ends["gj.jit"] - start)
        rows.append({"steps": k, "fused_vs_single": float(np.linalg.norm(fused - ends["gj.jit"]) / moved),
                     "recompiled_vs_single": float(np.linalg.norm(ends["jax.jit"] - ends["gj.jit"]) / moved)})
        print(f"K={k:3d}  fused vs single {rows[-1]['fused_vs_single']:7.2%}   single recompiled "
              f"{rows[-1]['recompiled_vs_single']:7.2%}", flush=True)
    print(json.dumps({"batch": args.batch, "backend": jax.default_backend(), "rows": rows}))


if __name__ == "__main__":
    main()
