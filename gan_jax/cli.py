"""The `gan-jax` command.

    gan-jax train mnist_gan [--set train.steps=300 ...] [--run-dir DIR] [--resume]
    gan-jax sample RUN_DIR --n 1000 --out samples.npy [--seed 0]
    gan-jax config mnist_gan [--set ...]          # print the resolved config as JSON
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gan-jax", description="Train and sample GANs (JAX/Flax).")
    sub = p.add_subparsers(dest="command", required=True)

    def add_config_args(cmd):
        cmd.add_argument("experiment", help="an experiment in experiments/ (e.g. mnist_gan)")
        cmd.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                         help="override a config value, e.g. --set train.steps=300 data.source=embedded")

    train = sub.add_parser("train", help="train an experiment into a run directory")
    add_config_args(train)
    train.add_argument("--run-dir", help="where the run is written (default runs/<experiment>-<time>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its newest good checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    config = sub.add_parser("config", help="print an experiment's resolved config as JSON")
    add_config_args(config)

    sample = sub.add_parser("sample", help="export generated images from a run's newest checkpoint")
    sample.add_argument("run_dir")
    sample.add_argument("--n", type=int, required=True, help="number of images")
    sample.add_argument("--out", required=True, help="output .npy file (N x H x W x C float32 in [-1, 1])")
    sample.add_argument("--seed", type=int, default=0, help="noise seed")
    return p


def _train(args) -> int:
    import experiments
    from gan_jax import config as config_lib
    from gan_jax import run

    if args.resume:
        if not args.run_dir:
            raise run.RunError("--resume needs --run-dir: the run to continue")
        saved = run.load_run_config(args.run_dir)
        if saved.experiment != args.experiment:
            raise run.RunError(f"{args.run_dir} is a run of {saved.experiment!r}, not {args.experiment!r}")
        outcome = run.resume(args.run_dir, args.overrides, progress=not args.no_progress)
    else:
        cfg = config_lib.apply_overrides(experiments.get_config(args.experiment), args.overrides)
        outcome = run.start(cfg, args.run_dir, progress=not args.no_progress)
    last = outcome.last
    summary = f"{outcome.reason} at step {outcome.step}"
    if last:
        summary += (f": d_loss {last['d_loss']:.4f}, g_loss {last['g_loss']:.4f}, "
                    f"D accuracy real {100 * last['d_acc_real']:.1f}% / fake {100 * last['d_acc_fake']:.1f}%")
    print(summary)
    print(f"run directory: {outcome.run_dir}  (last sample grid: {outcome.last_grid}; curves: "
          f"{outcome.run_dir / 'curves.png'})")
    if outcome.signum is not None:
        print(f"resume with: gan-jax train {args.experiment} --run-dir {outcome.run_dir} --resume")
        return 128 + outcome.signum
    return 0


def _config(args) -> int:
    import experiments
    from gan_jax import config as config_lib

    print(config_lib.to_json(config_lib.apply_overrides(experiments.get_config(args.experiment), args.overrides)), end="")
    return 0


def _sample(args) -> int:
    import numpy as np

    from gan_jax import run

    out = Path(args.out)
    if out.suffix != ".npy":
        raise run.RunError(f"--out {out} must end in .npy")
    if not out.parent.is_dir():
        raise run.RunError(f"--out {out}: folder {out.parent} does not exist")
    images = run.sample(args.run_dir, args.n, args.seed)
    tmp = out.with_name(f".{out.name}.tmp.npy")
    np.save(tmp, images.astype(np.float32), allow_pickle=False)
    os.replace(tmp, out)
    print(f"wrote {images.shape[0]} images of shape {images.shape[1:]} in [-1, 1] to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gan_jax.config import ConfigError
    from gan_jax.data import DataError
    from gan_jax.run import NonFiniteLoss, RunError

    try:
        return {"train": _train, "config": _config, "sample": _sample}[args.command](args)
    except (ConfigError, DataError, RunError) as e:
        print(f"gan-jax {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLoss as e:
        print(f"gan-jax {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
