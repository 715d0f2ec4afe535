"""Side by side with Keras and PyTorch versions of the book's GANs (../shared/peers) and of its chapter-2
VAE (benchmarks/peers/keras_vae.py, Keras `model.fit`), interleaved.

    bash ../shared/peers/setup.sh /tmp/peers          # once: the peers' virtual environments
    python benchmarks/bench_peers.py                  # 3 rounds, MLP GAN, DCGAN and VAE (~17 min here)
    python benchmarks/bench_peers.py --models vae --rounds 3   # the VAE needs only the Keras environment

Every implementation does the same work per iteration (batch 128: D's Adam step on a real batch and on a
fake batch, then G's through the frozen D; Adam 1e-3; binary cross-entropy) and runs in its own process;
the rounds interleave them so that the machine's noise hits all alike. Reported per implementation: median
iterations/s over the rounds, the ratio to the fastest peer, the process's peak resident memory, and the
fraction of this machine's float32 GEMM throughput (jitted JAX 2048^3, measured before and after the rounds)
that the analytic work per iteration (../shared/peers/flops.py) represents.

The VAE (784-256-2, batch 100 of 60,000 images shuffled per epoch, Adam 1e-3, Bernoulli reconstruction +
KL) against Keras' `model.fit` with a custom `train_step`: plain tf.function, XLA, and XLA with
`steps_per_execution=100`; ours is `gan-jax train mnist_vae`'s step at its shipped `train.fuse` = 100.

Ours: the engine's own step (`gan_jax.GAN.train_step`, compiled by `gan_jax.xla.jit`) on 60,000 on-device images, batches drawn
inside the step. The MLP GAN runs `train.fuse` = 100 iterations per compiled call, the DCGAN single steps
(XLA:CPU runs conv kernel gradients inside `lax.scan` several times slower; see docs/dcgan.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT.parent / "shared" / "peers"
# (name, interpreter folder under --peers or "ours", script or None, variant)
IMPLEMENTATIONS = {
    "mlp": [("gan_jax", "ours", None, "fuse100"), ("Keras tf.function+XLA", "tf", "keras_gan.py", "tff_xla"),
            ("Keras tf.function", "tf", "keras_gan.py", "tff"), ("PyTorch eager", "torch", "torch_gan.py", "eager")],
    "dcgan": [("gan_jax", "ours", None, "fuse1"), ("Keras train_on_batch", "tf", "keras_gan.py", "tob_pob"),
              ("Keras tf.function", "tf", "keras_gan.py", "tff"), ("PyTorch eager", "torch", "torch_gan.py", "eager")],
    "vae": [("gan_jax", "ours", None, "fuse100"), ("Keras fit", "tf", "peers/keras_vae.py", "fit"),
            ("Keras fit+XLA", "tf", "peers/keras_vae.py", "fit_xla"),
            ("Keras fit+XLA, 100/call", "tf", "peers/keras_vae.py", "fit_xla_spe100")],
}
ITERS = {"mlp": (2000, 200), "dcgan": (30, 5), "vae": (3000, 600)}  # (timed, warm-up) iterations per process
EXPERIMENT = {"mlp": "mnist_gan", "dcgan": "mnist_dcgan", "vae": "mnist_vae"}
# the VAE's multiply-adds per example: encoder 784x256 + 256x(2+2), decoder 2x256 + 256x784; a training
# step is ~3x the forward (forward, weight and input gradients; the first layer's input gradient skipped)
_VAE_FORWARD, _VAE_FIRST = 784 * 256 + 256 * 4 + 2 * 256 + 256 * 784, 784 * 256
VAE_FLOPS_PER_ITER = 2 * 100 * (3 * _VAE_FORWARD - _VAE_FIRST)


def ours(model: str, iters: int, warmup: int, fuse: int, overrides: list[str] = ()) -> None:
    """Times our step the peers' way and prints their JSON line (run in a child process; `overrides`
    change the config, e.g. train.batch_size, train.devices, train.precision)."""
    sys.path.insert(0, str(ROOT))
    import jax
    import numpy as np

    import experiments
    from gan_jax.config import apply_overrides
    from gan_jax import build, run, xla

    cfg = apply_overrides(experiments.get_config(EXPERIMENT[model]),
                          [f"train.fuse={fuse}", "train.devices=1", *overrides])
    gan = build.engine(cfg, (28, 28, 1))
    advance = xla.jit(run.repeat(gan.train_step, cfg.train.fuse), donate_argnums=0)
    images = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (60_000, 28, 28, 1)).astype(np.float32))
    images, state = gan.parallel.replicate(images), gan.parallel.replicate(gan.init(build.streams(cfg)))
    start = time.perf_counter()
    for _ in range(max(1, warmup // fuse)):
        state, metrics = advance(state, images)
    jax.block_until_ready(metrics)
    warm = time.perf_counter() - start
    calls = max(1, iters // fuse)
    start = time.perf_counter()
    for _ in range(calls):
        state, metrics = advance(state, images)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    print(json.dumps({"framework": "gan_jax", "variant": f"fuse{fuse}", "model": model, "iters": calls * fuse,
                      "batch": cfg.train.batch_size, "devices": gan.parallel.n, "platform": jax.default_backend(),
                      "iters_per_sec": calls * fuse / seconds, "warmup_s": warm,
                      **{f"{name}_last": float(values[-1]) for name, values in metrics.items()}}))


# Runs a script under any interpreter and reports the process's peak resident memory when it exits.
_PEAK = ("import atexit, resource, runpy, sys; atexit.register(lambda: print('PEAK_RSS_KIB', "
         "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)); sys.argv = sys.argv[1:]; "
         "runpy.run_path(sys.argv[0], run_name='__main__')")


def run_child(cmd: list[str]) -> tuple[dict, float]:
    """(the child's JSON line, its peak resident memory in MiB); cmd = [python, script, args...]."""
    done = subprocess.run([cmd[0], "-c", _PEAK, *cmd[1:]], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    peak = [line for line in done.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")]
    if done.returncode or not lines or not peak:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[-1]), int(peak[-1].split()[1]) / 1024


def command(model: str, impl: tuple, peers: Path) -> list[str]:
    name, where, script, variant = impl
    timed, warm = ITERS[model]
    if where == "ours":
        return [sys.executable, __file__, "--ours", model, "--fuse", variant.removeprefix("fuse"),
                "--iters", str(timed), "--warmup", str(warm)]
    if script.startswith("peers/"):  # ours, in benchmarks/peers: timed in whole epochs after one of warm-up
        return [str(peers / where / "bin" / "python"), str(ROOT / "benchmarks" / script), "--variant", variant,
                "--epochs", str(max(1, timed // 600))]
    return [str(peers / where / "bin" / "python"), str(PEERS / script), "--model", model, "--variant", variant,
            "--iters", str(timed), "--warmup", str(warm)]


def gemm_peak() -> float:
    """This machine's float32 GEMM GFLOP/s (jitted JAX, 2048^3): the peers' script where the checkout has it,
    else `bench_dcgan.gemm_flops_per_s` (the same measurement)."""
    if not (PEERS / "gemm_peak.py").is_file():
        out = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'benchmarks'); import bench_dcgan; "
                              "print(bench_dcgan.gemm_flops_per_s() / 1e9)"], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
        return float(out.strip().splitlines()[-1])
    out = subprocess.run([sys.executable, str(PEERS / "gemm_peak.py"), "--framework", "jax"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["gflops_best"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peers", type=Path, default=Path("/tmp/peers"), help="where setup.sh put the peers' venvs")
    p.add_argument("--ours", choices=list(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    p.add_argument("--fuse", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--iters", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--set", dest="overrides", nargs="+", default=[], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ours:
        return ours(args.ours, args.iters, args.warmup, args.fuse, args.overrides)
    shared = [m for m in args.models if m != "vae"]  # the GAN peers' scripts live in the developers' checkout
    if shared and not PEERS.is_dir():
        sys.exit(f"--models {' '.join(shared)} needs the Keras and PyTorch peer scripts (developers' checkout, "
                 f"{PEERS}); --models vae needs only a Keras environment")
    for where in sorted({impl[1] for model in args.models for impl in IMPLEMENTATIONS[model]} - {"ours"}):
        if not (args.peers / where / "bin" / "python").exists():
            make = (f"bash {PEERS / 'setup.sh'} {args.peers}" if PEERS.is_dir() else
                    f"python3 -m venv {args.peers / where} && {args.peers / where}/bin/pip install tensorflow-cpu")
            sys.exit(f"no peer environment {args.peers / where}; create it with: {make}")
    flops = {"vae": {"flops_per_iter": VAE_FLOPS_PER_ITER}}
    if shared:
        flops.update(json.loads(subprocess.run([sys.executable, str(PEERS / "flops.py")], capture_output=True,
                                               text=True, check=True).stdout))
    peak_before = gemm_peak()
    runs: dict = {}
    for r in range(args.rounds):
        for model in args.models:
            for impl in IMPLEMENTATIONS[model]:
                result, rss = run_child(command(model, impl, args.peers))
                runs.setdefault((model, impl[0]), []).append((result["iters_per_sec"], rss))
                print(f"round {r + 1}/{args.rounds}  {model:5s} {impl[0]:24s} {result['iters_per_sec']:8.2f} it/s  "
                      f"peak {rss:6.0f} MiB", flush=True)
    peak_after = gemm_peak()
    peak = max(peak_before, peak_after)
    rows = []
    print(f"\nfloat32 GEMM peak (jitted JAX, 2048^3): {peak_before:.0f} GFLOP/s before, {peak_after:.0f} after\n")
    print(f"{'model':6s} {'implementation':24s} {'it/s':>8s} {'x fastest peer':>15s} {'peak MiB':>9s} {'% of GEMM':>10s}")
    for model in args.models:
        medians = {name: statistics.median(s for s, _ in runs[(model, name)]) for name, *_ in IMPLEMENTATIONS[model]}
        fastest_peer = max(v for k, v in medians.items() if k != "gan_jax")
        for name, *_ in IMPLEMENTATIONS[model]:
            rss = max(m for _, m in runs[(model, name)])
            gflops = medians[name] * flops[model]["flops_per_iter"] / 1e9
            row = {"model": model, "implementation": name, "iters_per_sec": medians[name],
                   "ratio_to_fastest_peer": medians[name] / fastest_peer, "peak_rss_mib": rss,
                   "fraction_of_gemm_peak": gflops / peak}
            rows.append(row)
            print(f"{model:6s} {name:24s} {medians[name]:8.2f} {row['ratio_to_fastest_peer']:14.2f}x {rss:9.0f} "
                  f"{100 * row['fraction_of_gemm_peak']:9.1f}%")
    print(json.dumps({"gemm_gflops": [peak_before, peak_after], "rounds": args.rounds, "rows": rows}))


if __name__ == "__main__":
    main()
