"""Two source trees' training speed, interleaved: did a change make the book's steps slower?

    git worktree add /tmp/before <commit>        # the tree to compare against
    python benchmarks/bench_trees.py --trees /tmp/before . [--experiments mnist_gan mnist_dcgan] [--rounds 3]

Each round runs every tree's own `benchmarks/bench_experiments.py` (a short real run of the experiment as
shipped, its loop's rate read from metrics.jsonl) in a fresh process, tree after tree, so the trees share
the machine's state round by round. Prints each round's it/s, then per experiment the median of each tree
and the ratio of the last tree to the first (> 1: the last is faster), and one JSON line. Run it on a
quiet machine: the load of other work is the figure's error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def rate(tree: Path, experiment: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        done = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_experiments.py"), "--experiments",
                               experiment, "--json", str(out)], cwd=tree, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{tree}: bench_experiments failed:\n{done.stderr[-2000:]}")
        return json.loads(out.read_text())[0]["it_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", nargs=2, required=True, type=Path, help="the tree before, then the tree after")
    p.add_argument("--experiments", nargs="+", default=["mnist_gan", "mnist_dcgan"])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    trees = [t.resolve() for t in args.trees]
    rates = {e: {str(t): [] for t in trees} for e in args.experiments}
    for r in range(args.rounds):
        for e in args.experiments:
            for t in trees:
                rates[e][str(t)].append(rate(t, e))
            print(f"round {r + 1}  {e:14} " + "  ".join(f"{rates[e][str(t)][-1]:8.1f} it/s" for t in trees), flush=True)
    summary = {}
    for e in args.experiments:
        medians = [statistics.median(rates[e][str(t)]) for t in trees]
        summary[e] = {"median_it_per_s": medians, "ratio_after_to_before": medians[1] / medians[0]}
        print(f"{e:14} before {medians[0]:8.1f} it/s  after {medians[1]:8.1f} it/s  after/before "
              f"{medians[1] / medians[0]:.3f}x")
    print(json.dumps({"bench": "trees", "trees": [str(t) for t in trees], "rates": rates, "summary": summary}))


if __name__ == "__main__":
    main()
