"""Whether the C allocator matters on the CPU: short real runs (`gan-jax train EXP`) under glibc's malloc
and under each other allocator found (tcmalloc, jemalloc, or --lib PATH), preloaded with LD_PRELOAD.

    python benchmarks/bench_allocator.py [--experiments mnist_dcgan] [--steps 200] [--rounds 2]
        [--set data.source=npz data.path=/path/to/mnist.npz] [--lib /path/to/libtcmalloc_minimal.so.4]

Why: XLA:CPU allocates each compiled call's scratch buffer (`preallocated-temp` in its buffer assignment:
~90 MB for the DCGAN iteration) at every call. glibc serves a block that size with a fresh mmap and
unmaps it on free, so every call faults ~22,000 new pages in from the kernel; an allocator that keeps
freed memory (tcmalloc) does not. Fusing iterations (`train.fuse`) is the other remedy, but XLA:CPU runs
convolution steps far slower inside a scan (docs/speed.md), so the DCGAN cannot use it.

Each run is a child process (LD_PRELOAD acts at process start) timed with `os.wait4`: its minor page
faults, its system and user CPU time, and its loop's it/s from the run's own metrics.jsonl rows (as in
bench_experiments.py). Allocators alternate within each round, so a ratio is measured against the glibc
run beside it. Runs go to a temporary folder, one after another; never run this beside other heavy work.
The last logged losses are compared with glibc's, bit for bit (an allocator
should change nothing but speed). Prints a table, the ratios, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import loop_rate  # noqa: E402

CANDIDATES = {  # name -> file names to look for in the usual library folders
    "tcmalloc": ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"],
    "jemalloc": ["libjemalloc.so.2"],
}
FOLDERS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]


def find_allocators(extra: list[str]) -> dict[str, str]:
    """The preloadable allocators on this machine: {name: path}, glibc's own first (path '').

    Args:
      extra: library paths given by the user (--lib); each must exist.

    Returns:
      {"glibc": "", "tcmalloc": "/usr/lib/.../libtcmalloc_minimal.so.4", ...} for those found.

    >>> find_allocators([])["glibc"]
    ''
    """
    found = {"glibc": ""}
    for name, files in CANDIDATES.items():
        for folder in FOLDERS:
            hits = [f"{folder}/{f}" for f in files if os.path.exists(f"{folder}/{f}")]
            if hits:
                found[name] = hits[0]
                break
    for path in extra:
        if not os.path.exists(path):
            raise SystemExit(f"--lib {path}: no such file (install e.g. libtcmalloc-minimal4 and pass its .so)")
        found[Path(path).name] = path
    return found


def measure(experiment: str, steps: int, overrides: list[str], preload: str) -> dict:
    """One short `gan-jax train` run in a child process with LD_PRELOAD=preload ('' for none)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        interval = steps  # one preview and checkpoint, at the end, as in bench_experiments' short runs
        cmd = [sys.executable, "-m", "gan_jax.cli", "train", experiment, "--run-dir", str(run_dir), "--set",
               *overrides, f"train.steps={steps}", f"train.log_interval={max(1, steps // 4)}",
               f"train.sample_interval={interval}", f"train.checkpoint_interval={interval}"]
        log = Path(tmp) / "stderr.txt"
        with open(log, "w") as err:
            child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{experiment} under {preload or 'glibc'} failed:\n{log.read_text()[-2000:]}")
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    done, loop_s = loop_rate(rows)
    losses = {k: v for k, v in rows[-1].items() if "loss" in k}  # the last logged losses, to check bitwise
    return {"experiment": experiment, "steps": steps, "it_per_s": done / loop_s, "minor_faults": usage.ru_minflt,
            "sys_s": usage.ru_stime, "user_s": usage.ru_utime, "losses": losses}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiments", nargs="+", default=["mnist_dcgan"])
    p.add_argument("--steps", type=int, default=200, help="iterations per run")
    p.add_argument("--rounds", type=int, default=2, help="each allocator runs once per round, in turn")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--lib", nargs="+", default=[], help="other allocator libraries to preload")
    args = p.parse_args()
    allocators = find_allocators(args.lib)
    if len(allocators) == 1:
        print("only glibc's malloc found; install libtcmalloc-minimal4 (Debian/Ubuntu) or pass --lib PATH")
    print("allocators: " + ", ".join(f"{k} ({v or 'built in'})" for k, v in allocators.items()), flush=True)
    print(f"{'round':>5} {'experiment':16} {'allocator':10} {'it/s':>7} {'minor faults':>13} {'system s':>9} "
          f"{'user s':>8}", flush=True)
    results = []
    for r in range(args.rounds):
        for experiment in args.experiments:
            for name, path in allocators.items():
                m = {"round": r, "allocator": name, **measure(experiment, args.steps, args.overrides, path)}
                results.append(m)
                print(f"{r:>5} {experiment:16} {name:10} {m['it_per_s']:>7.2f} {m['minor_faults']:>13,} "
                      f"{m['sys_s']:>9.1f} {m['user_s']:>8.1f}", flush=True)
    ratios = {}
    for experiment in args.experiments:
        for name in list(allocators)[1:]:
            pairs = [(a["it_per_s"], b["it_per_s"]) for a in results for b in results
                     if a["round"] == b["round"] and a["experiment"] == b["experiment"] == experiment
                     and a["allocator"] == name and b["allocator"] == "glibc"]
            ratios[f"{experiment}/{name}"] = statistics.median(x / y for x, y in pairs)
            same = all(a["losses"] == b["losses"] for a in results for b in results
                       if a["experiment"] == b["experiment"] == experiment and a["allocator"] == name
                       and b["allocator"] == "glibc")
            print(f"{experiment} under {name}: {ratios[f'{experiment}/{name}']:.2f}x glibc's it/s "
                  f"(median over {len(pairs)} round(s)); last logged losses "
                  f"{'equal to' if same else 'DIFFERENT from'} glibc's, bit for bit")
    print(json.dumps({"bench": "allocator", "allocators": allocators, "results": results, "ratios": ratios}))


if __name__ == "__main__":
    main()
