"""Scaling: iterations/s and images/s of a GAN step against the batch size and the number of devices.

    python benchmarks/bench_scaling.py                          # the MLP GAN on this machine's devices (~5 min)
    python benchmarks/bench_scaling.py --model dcgan --batches 32 64 128 256 --devices 1 2 --out docs/scaling_dcgan
    python benchmarks/bench_scaling.py --cpu-devices            # 1, 2, 4, 8 forced CPU devices (XLA_FLAGS)

Each point is its own process timing the engine's step (`benchmarks/bench_peers.py --ours`): the batch
sweep on one device, the device sweep at a fixed global batch (split over the devices by
`gan_jax.parallel`). On a CPU, forced devices share the same cores (and XLA splits its threads between
them), so the device sweep measures the overhead of the partitioning, not a speed-up; the batch sweep
runs without forced devices. On a GPU/TPU host the device sweep measures real scaling. Writes
OUT.md (tables, with the platform and device named), OUT.json and OUT.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gan_jax import viz  # noqa: E402

FUSE = {"mlp": 100, "dcgan": 1}


def point(model: str, batch: int, devices: int, iters: int, forced: int | None) -> dict:
    env = dict(os.environ)
    if forced:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={forced}".strip()
        env["JAX_PLATFORMS"] = "cpu"
    fuse = FUSE[model]
    cmd = [sys.executable, str(HERE / "bench_peers.py"), "--ours", model, "--fuse", str(fuse), "--iters", str(iters),
           "--warmup", str(fuse), "--set", f"train.batch_size={batch}", f"train.devices={devices}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    r["images_per_sec"] = r["iters_per_sec"] * batch
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list(FUSE), default="mlp")
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    p.add_argument("--devices", type=int, nargs="+", default=None, help="device counts (default 1, 2, 4, ... up to all)")
    p.add_argument("--cpu-devices", action="store_true", help="force 8 host devices on the CPU for the device sweep")
    p.add_argument("--global-batch", type=int, default=512, help="the device sweep's batch (split over devices)")
    p.add_argument("--iters", type=int, default=None, help="timed iterations per point (default 1000 mlp, 10 dcgan)")
    p.add_argument("--out", default="docs/scaling")
    args = p.parse_args()
    iters = args.iters or (1000 if args.model == "mlp" else 10)
    forced = 8 if args.cpu_devices else None
    if args.devices is None:  # 1, 2, 4, ... up to every device a child process sees
        n = 8 if forced else int(subprocess.run([sys.executable, "-c", "import jax; print(jax.local_device_count())"],
                                                capture_output=True, text=True, check=True).stdout.strip())
        args.devices = [d for d in (1, 2, 4, 8, 16) if d <= n]
    by_batch = []
    for b in args.batches:
        by_batch.append(point(args.model, b, 1, iters, None))  # forced host devices would split the CPU's threads
        print(f"batch {b:5d}, 1 device: {by_batch[-1]['iters_per_sec']:9.2f} it/s {by_batch[-1]['images_per_sec']:10.0f} images/s", flush=True)
    by_devices = []
    for d in args.devices:
        by_devices.append(point(args.model, args.global_batch, d, iters, forced))
        print(f"batch {args.global_batch:5d}, {d} devices: {by_devices[-1]['iters_per_sec']:9.2f} it/s "
              f"{by_devices[-1]['images_per_sec']:10.0f} images/s", flush=True)
    platform = by_batch[0]["platform"]
    where = f"{platform}" + (" (device sweep: 8 forced host devices sharing the CPU's cores)" if forced else "")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"model": args.model, "platform": where, "by_batch": by_batch,
                                                    "by_devices": by_devices}, indent=2) + "\n")
    command = "python benchmarks/bench_scaling.py " + " ".join(
        [f"--model {args.model}", "--batches " + " ".join(map(str, args.batches)),
         "--devices " + " ".join(map(str, args.devices)), f"--global-batch {args.global_batch}", f"--out {args.out}"]
        + (["--cpu-devices"] if forced else []))
    lines = [f"# Scaling of the {args.model} GAN step on {where}", "", f"Command: `{command}`", "",
             "| sweep | batch | devices | iterations/s | images/s |", "|---|---|---|---|---|"]
    sweeps = [("batch", r) for r in by_batch] + [("devices" + (" (forced)" if forced else ""), r) for r in by_devices]
    lines += [f"| {name} | {r['batch']} | {r['devices']} | {r['iters_per_sec']:.2f} | {r['images_per_sec']:.0f} |"
              for name, r in sweeps]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plt = viz._pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["batch"] for r in by_batch], [r["images_per_sec"] for r in by_batch], "o-")
    a.set(xscale="log", xlabel="batch size (1 device)", ylabel="images/s", title=f"{args.model} GAN: batch size")
    b.plot([r["devices"] for r in by_devices], [r["images_per_sec"] for r in by_devices], "o-")
    b.set(xlabel="devices", ylabel="images/s", title=f"global batch {args.global_batch} over devices ({platform})")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    viz.save_figure(plt, fig, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
