"""Speed of the book's ch4 DCGAN iteration (batch 128) against this machine's GEMM throughput.

    python benchmarks/bench_dcgan.py                       # fast formulation, fuse 1 (the default)
    python benchmarks/bench_dcgan.py --reference --layers  # also plain autodiff convs, and per layer
    python benchmarks/bench_dcgan.py --fuse 1 5            # one compiled step vs lax.scan of 5

An iteration is the book's: D's Adam step on a real batch, on a fake batch, then G's through D; data
(60,000 random images) on the device, batches drawn inside the step. Prints, in one run: the float32
GEMM throughput (jitted 2048^3 matmul), the DCGAN's iterations/s (median over repeats, compile apart),
its FLOP per iteration (XLA's cost analysis of the compiled step) and the fraction of GEMM throughput
that makes; with --reference the same for `lax.conv_transpose` differentiated by plain autodiff;
with --layers each conv layer's forward, input-gradient and kernel-gradient times in both forms.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import experiments  # noqa: E402
from benchmarks._timing import median_s  # noqa: E402
from gan_jax.config import apply_overrides  # noqa: E402
from gan_jax.models import conv  # noqa: E402
from gan_jax import build, run, xla  # noqa: E402
from gan_jax.gan import GAN  # noqa: E402

BATCH = 128


def gemm_flops_per_s(n: int = 2048, repeats: int = 5) -> float:
    """The faster of XLA:CPU's two GEMMs (YNNPACK, JAX's default for dots, and Eigen)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    options = [None] if jax.default_backend() != "cpu" else [None, {"xla_cpu_experimental_ynn_fusion_type": ""}]
    squares = [jax.jit(lambda a: a @ a, compiler_options=o) for o in options]  # each compiled once, by the warm call
    return max(2 * n**3 / median_s(lambda: square(a), repeats) for square in squares)


@contextlib.contextmanager
def reference_convs(on: bool):
    """Swaps the transposed convolution for the plain autodiff one while a model is traced."""
    fast = conv.conv_transpose
    if on:
        conv.conv_transpose = conv.conv_transpose_reference
    try:
        yield
    finally:
        conv.conv_transpose = fast


def _step_flops(gan: GAN, state, images) -> float:
    """FLOP of one iteration by XLA's cost analysis of the single (unfused) step: the analysis of a
    `lax.scan` counts its body once, not once per iteration."""
    cost = jax.jit(gan.train_step).lower(state, images).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan")))


def measure_step(fuse: int, iters: int, repeats: int, reference: bool) -> dict:
    cfg = apply_overrides(experiments.get_config("mnist_dcgan"), [f"train.fuse={fuse}", f"train.steps={fuse}"])
    images = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (60_000, 28, 28, 1)).astype(np.float32))
    with reference_convs(reference):
        gan = build.engine(cfg, (28, 28, 1))
        advance = xla.jit(run.repeat(gan.train_step, cfg.train.fuse), donate_argnums=0)
        state = gan.init(build.streams(cfg))
        start = time.perf_counter()
        compiled = advance.lower(state, images).compile()
        compile_s = time.perf_counter() - start
    flops = _step_flops(gan, state, images)
    state, metrics = compiled(state, images)
    jax.block_until_ready(metrics)
    calls = max(1, iters // fuse)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            state, metrics = compiled(state, images)
        jax.block_until_ready(metrics)
        rates.append(calls * fuse / (time.perf_counter() - start))
    return {"formulation": "reference" if reference else "fast", "fuse": fuse, "compile_s": compile_s,
            "it_per_s": statistics.median(rates), "flop_per_it": flops}


LAYERS = [  # name, op, input shape, kernel shape, stride (the book's DCGAN at batch 128)
    ("G ConvT 7->14, 256->128", "transpose", (BATCH, 7, 7, 256), (3, 3, 128, 256), 2),
    ("G ConvT 14->14, 128->64", "transpose", (BATCH, 14, 14, 128), (3, 3, 64, 128), 1),
    ("G ConvT 14->28, 64->1", "transpose", (BATCH, 14, 14, 64), (3, 3, 1, 64), 2),
    ("D Conv 28->14, 1->32", "conv", (BATCH, 28, 28, 1), (3, 3, 1, 32), 2),
    ("D Conv 14->7, 32->64", "conv", (BATCH, 14, 14, 32), (3, 3, 32, 64), 2),
    ("D Conv 7->4, 64->128", "conv", (BATCH, 7, 7, 64), (3, 3, 64, 128), 2),
]


def measure_layers(repeats: int) -> list[dict]:
    rows = []
    key = jax.random.key(0)
    for name, op, x_shape, w_shape, stride in LAYERS:
        x, w = jax.random.normal(key, x_shape), 0.05 * jax.random.normal(key, w_shape)
        forms = {"fast": conv.conv_transpose, "reference": conv.conv_transpose_reference} if op == "transpose" \
            else {"xla": conv.conv}
        for form, f in forms.items():
            g = jnp.ones_like(f(x, w, stride))
            fwd = xla.jit(lambda x, w, f=f: f(x, w, stride))
            dx = xla.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w, stride), x)[1](g))
            dw = xla.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w, stride), w)[1](g))
            row = {"layer": name, "form": form, "fwd_ms": 1e3 * median_s(lambda: fwd(x, w), repeats),
                   "dx_ms": 1e3 * median_s(lambda: dx(x, w, g), repeats), "dw_ms": 1e3 * median_s(lambda: dw(x, w, g), repeats)}
            rows.append(row)
            print(f"  {name:26s} {form:9s} forward {row['fwd_ms']:7.1f} ms  input grad {row['dx_ms']:7.1f} ms  "
                  f"kernel grad {row['dw_ms']:7.1f} ms", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=20, help="iterations per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--fuse", type=int, nargs="+", default=[1], help="iterations per compiled call")
    p.add_argument("--reference", action="store_true", help="also time plain autodiff transposed convs (slow)")
    p.add_argument("--layers", action="store_true", help="also time each conv layer")
    args = p.parse_args()
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}, {jax.device_count()} device(s)), "
          f"batch {BATCH}", flush=True)
    peak = gemm_flops_per_s()
    print(f"float32 GEMM 2048^3: {peak / 1e9:.0f} GFLOP/s", flush=True)
    results = []
    for reference in [False, True] if args.reference else [False]:
        for fuse in args.fuse:
            r = measure_step(fuse, args.iters if not reference else max(2, args.iters // 10), args.repeats, reference)
            r["gemm_fraction"] = r["it_per_s"] * r["flop_per_it"] / peak
            results.append(r)
            print(f"DCGAN {r['formulation']:9s} fuse {fuse:3d}: {r['it_per_s']:6.2f} it/s  "
                  f"({r['flop_per_it'] / 1e9:.1f} GFLOP/it -> {r['it_per_s'] * r['flop_per_it'] / 1e9:.0f} GFLOP/s, "
                  f"{100 * r['gemm_fraction']:.0f}% of GEMM)  compile {r['compile_s']:.1f}s", flush=True)
    peak_after = gemm_flops_per_s()
    print(f"float32 GEMM again after: {peak_after / 1e9:.0f} GFLOP/s (a drift means a busy machine)")
    layers = measure_layers(args.repeats) if args.layers else []
    print(json.dumps({"backend": jax.default_backend(), "gemm_flop_per_s": peak, "gemm_flop_per_s_after": peak_after,
                      "steps": results, "layers": layers}))


if __name__ == "__main__":
    main()
