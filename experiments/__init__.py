"""Experiments: one module per experiment, each with a `get_config()` returning a `gan_jax.config.Config`.

`gan-jax train NAME` runs `experiments/NAME.py`; each module's docstring gives the command that runs it.
"""

from __future__ import annotations

import importlib
import pkgutil

from gan_jax.config import Config, ConfigError


def available() -> list[str]:
    """Experiments that `gan-jax train` runs (modules with a get_config; studies like mode_collapse are
    scripts run with `python -m experiments.NAME`)."""
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return sorted(n for n in names if hasattr(importlib.import_module(f"{__name__}.{n}"), "get_config"))


def get_config(name: str) -> Config:
    """The config of experiment `name`; a ConfigError listing the experiments if there is none."""
    if name not in available():
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").get_config()
