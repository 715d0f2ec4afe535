"""Trained models that ship in the package, named `pretrained:NAME` wherever a run directory is accepted.

    gan-jax sample pretrained:mnist_gan --n 64 --out grid.png      # offline, no dataset
    gan, state, cfg, step = gj.load_run("pretrained:mnist_gan")

Each lives in `gan_jax/assets/pretrained/NAME/`:

  config.json   the run's config (its data section reset to the defaults: no path of the maker's machine)
  data.json     the shape of the data it was trained on
  weights.npz   the weights a sample needs, float32 or float16 arrays named by their path: a GAN's G
                (the weights `--weights auto` picks: the moving average when the run kept one) and its
                BatchNorm statistics; an autoencoder's parameters
  card.json     how it was made: the command, iterations, seed, data, the evaluator's numbers beside
                the real floor, the sha256 of weights.npz
  samples.png   64 samples

`experiments/ship_pretrained.py` writes them from a finished run; `gan_jax.runs.load_run` reads them.
A pretrained state is for sampling and evaluation: D and the optimiser states are fresh, not trained.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "assets" / "pretrained"
PREFIX = "pretrained:"


class PretrainedError(FileNotFoundError):
    """No shipped model of that name, or its files are damaged."""


def is_name(source) -> bool:
    """Whether `source` names a shipped model (`pretrained:NAME`).

    Args:
      source: a run directory or a name.

    Returns:
      True for "pretrained:..." strings.

    >>> is_name("pretrained:mnist_gan"), is_name("runs/x")
    (True, False)
    """
    return str(source).startswith(PREFIX)


def names() -> list[str]:
    """The shipped models' names.

    Returns:
      Sorted names (folders of assets/pretrained with a card).

    >>> isinstance(names(), list)
    True
    """
    if not ROOT.is_dir():
        return []
    return sorted(p.name for p in ROOT.iterdir() if (p / "card.json").is_file())


def folder(source: str) -> Path:
    """The folder of `pretrained:NAME`.

    Args:
      source: "pretrained:NAME".

    Returns:
      Its folder; PretrainedError naming the shipped models when there is none.

    >>> # folder("pretrained:mnist_gan") / "card.json"
    """
    name = str(source)[len(PREFIX):] if is_name(source) else str(source)
    if name not in names():
        raise PretrainedError(f"no pretrained model {name!r}; shipped: {', '.join(names()) or 'none'} "
                              "(use them as pretrained:NAME)")
    return ROOT / name


def card(source: str) -> dict:
    """A shipped model's card.

    Args:
      source: "pretrained:NAME".

    Returns:
      The card's dict.

    >>> # card("pretrained:mnist_gan")["iterations"]
    """
    return json.loads((folder(source) / "card.json").read_text())
