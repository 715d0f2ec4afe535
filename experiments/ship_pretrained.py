"""Writes a finished run as a shipped model, `pretrained:NAME` (gan_jax/assets/pretrained/NAME/).

    gan-jax train mnist_gan --run-dir runs/mnist_gan_full --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax eval runs/mnist_gan_full                   # the shipped evaluator's numbers, into eval.json
    python -m experiments.ship_pretrained runs/mnist_gan_full --name mnist_gan [--float16]

It keeps what sampling needs (G's weights that `--weights auto` picks and its BatchNorm statistics, an
autoencoder's or a translator's parameters), the config without the data's path, the run's eval.json,
ae_eval.json or translation.json numbers, the command that made it and 64 samples (a translator: rows of
held-out digits, input -> translated -> back). `--float16` halves the weights (check that the
samples' FD does not move: `gan-jax eval pretrained:NAME`).
"""

import argparse
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import jax
import numpy as np

from gan_jax import build, pretrained, runs, viz
from gan_jax import config as config_lib
from gan_jax.checkpoint import flat_arrays, to_nested
from gan_jax.config import DataConfig
from gan_jax.gan import GAN


def _without_folder(source: str) -> str:
    """npz:/home/me/data/mnist.npz[test] -> npz:mnist.npz[test]: where the file was on this machine is no
    one else's business (and no use to them)."""
    kind, _, rest = source.partition(":")
    return f"{kind}:{Path(rest).name}" if rest.startswith("/") else source


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--name", required=True)
    p.add_argument("--float16", action="store_true")
    a = p.parse_args()
    eng, state, cfg, step = runs.load_run(a.run_dir)
    if cfg.train.seeds > 1:
        raise SystemExit(f"{a.run_dir} trained {cfg.train.seeds} seeds; ship a run of one seed")
    if isinstance(eng, GAN):
        weights = runs.weights_used(cfg, "auto")
        part = {"g_params": state.g_ema if weights == "ema" else state.g_params, "g_rest": state.g_rest}
    else:
        weights, part = "params", {"params": state.params}
    translator = bool(getattr(eng, "transforms", None))
    flat = flat_arrays(to_nested(part))
    if a.float16:
        flat = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in flat.items()}
    out = pretrained.ROOT / a.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    np.savez_compressed(out / "weights.npz", **flat)
    shipped_cfg = dataclasses.replace(cfg, data=DataConfig(sampling=cfg.data.sampling, pair=cfg.data.pair))
    (out / "config.json").write_text(config_lib.to_json(shipped_cfg))
    data = json.loads((build.Path(a.run_dir) / "data.json").read_text())
    shapes = {k: data[k] for k in ("image_shape", "target_shape") if k in data}
    (out / "data.json").write_text(json.dumps({**shapes, "n": data["n"],
                                               "source": "MNIST training digits"}, indent=2) + "\n")
    evals = {}
    for name in ("eval.json", "ae_eval.json", "translation.json"):
        path = build.Path(a.run_dir) / name
        if path.is_file():
            r = json.loads(path.read_text())
            r = r.get("translation", r)  # runs of 2026-12-07 nested it
            evals[name] = {k: r[k] for k in ("samples", "real_floor", "k", "weights", "classifier") if k in r} \
                if name == "eval.json" else {**r, **({"test_data": _without_folder(r["test_data"])}
                                                     if "test_data" in r else {})}
    if translator:
        weights = "params"
    card = {"name": a.name, "experiment": cfg.experiment, "iterations": int(step), "seed": cfg.seed,
            "data_seed": cfg.data.seed, "data": f"{data['n']} MNIST training digits ({cfg.data.source})",
            "command": f"gan-jax train {cfg.experiment} --set data.source=npz data.path=/path/to/mnist.npz",
            "weights": weights, "dtype": "float16" if a.float16 else "float32",
            "weights_sha256": hashlib.sha256((out / "weights.npz").read_bytes()).hexdigest(),
            "weights_bytes": (out / "weights.npz").stat().st_size, "jax": jax.__version__, **evals}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    if translator:
        from gan_jax import translation

        shipped = runs.load_run(f"pretrained:{a.name}")
        test = build.test_domains(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source="embedded")))
        rows = translation.preview(shipped.engine, {"a": test.a.images[:8], "b": test.b.images[:8]})(shipped.state)
        viz.save_grid(rows.reshape(-1, *rows.shape[2:]), out / "samples.png", cols=rows.shape[1])
    else:
        x = runs.sample(f"pretrained:{a.name}", 64, seed=0)
        viz.save_grid(x, out / "samples.png", cols=8)
    print(f"wrote {out}: {card['weights_bytes']} bytes of {card['dtype']} weights ({weights}), step {step}")


if __name__ == "__main__":
    main()
