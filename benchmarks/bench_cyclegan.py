"""The CycleGAN paper's iteration, ours beside PyTorch's, interleaved: iterations/s and peak memory.

    bash ../shared/peers/setup.sh /tmp/peers       # once: the PyTorch environment (torch 2.13 CPU)
    python benchmarks/bench_cyclegan.py             # 3 rounds at 128x128x3, batch 1 (~10 min here)
    python benchmarks/bench_cyclegan.py --size 64 --rounds 2 --iters 10

Both do the reference implementation's work per iteration (benchmarks/peers/torch_cyclegan.py): ResNet-9
generators and 70x70 PatchGANs with instance norm, LSGAN, cycle and identity L1, a pool of 50 per D, Adam,
batch 1. Ours is `gan_jax.translation.cyclegan`'s `train_step` under `gan_jax.jit`, on 16 on-device images
per domain; each implementation runs in its own process, one after the other in every round, so the
machine's noise hits both alike. Printed: the median iterations/s over the rounds, ours / PyTorch's, and
each process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ours(iters: int, warmup: int, size: int, blocks: int) -> dict:
    import jax

    import gan_jax as gj
    from gan_jax import translation

    shape = (size, size, 3)
    game = translation.cyclegan(shape, shape, width=64, blocks=blocks, d_width=64, d_layers=3, identity=0.5,
                                pool=50, flip=False, steps=10**6, batch_size=1)
    keys = jax.random.split(jax.random.key(0), 2)
    data = gj.data.Unpaired(a=jax.random.uniform(keys[0], (16, *shape), minval=-1, maxval=1),
                            b=jax.random.uniform(keys[1], (16, *shape), minval=-1, maxval=1))
    step = gj.jit(game.train_step, donate_argnums=0)
    state = game.init(0)
    for _ in range(warmup):
        state, m = step(state, data)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(iters):
        state, m = step(state, data)
    jax.block_until_ready(state)
    elapsed = time.perf_counter() - start
    return {"impl": "gan_jax", "it_per_s": iters / elapsed, "loss": float(m["G_loss"]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "jax": jax.__version__}


def run_one(impl: str, args) -> dict:
    common = ["--iters", str(args.iters), "--warmup", str(args.warmup), "--size", str(args.size),
              "--blocks", str(args.blocks)]
    if impl == "ours":
        cmd = [sys.executable, __file__, "--impl", "ours", *common]
    else:
        cmd = [str(Path(args.peers) / "torch" / "bin" / "python"), str(ROOT / "benchmarks" / "peers" / "torch_cyclegan.py"),
               *common]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--blocks", type=int, default=9)
    p.add_argument("--peers", default="/tmp/peers", help="where setup.sh made the peers' environments")
    p.add_argument("--impl", choices=["ours"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.impl == "ours":
        print(json.dumps(ours(a.iters, a.warmup, a.size, a.blocks)))
        return
    results: dict[str, list[dict]] = {"ours": [], "torch": []}
    for r in range(a.rounds):
        order = ["ours", "torch"] if r % 2 == 0 else ["torch", "ours"]
        for impl in order:
            results[impl].append(run_one(impl, a))
            print(f"round {r + 1}: {impl}: {results[impl][-1]['it_per_s']:.3f} it/s, "
                  f"{results[impl][-1]['peak_rss_mb']:.0f} MB", flush=True)
    med = {k: statistics.median(x["it_per_s"] for x in v) for k, v in results.items()}
    mem = {k: max(x["peak_rss_mb"] for x in v) for k, v in results.items()}
    print(f"CycleGAN iteration, ResNet-{a.blocks} + 70x70 PatchGAN, batch 1, {a.size}x{a.size}x3, "
          f"median of {a.rounds} rounds of {a.iters}:")
    print(f"  gan_jax        {med['ours']:.3f} it/s  peak {mem['ours']:.0f} MB")
    print(f"  PyTorch eager  {med['torch']:.3f} it/s  peak {mem['torch']:.0f} MB  ({results['torch'][0]['threads']} threads)")
    print(f"  ours / PyTorch: {med['ours'] / med['torch']:.2f}x")


if __name__ == "__main__":
    main()
