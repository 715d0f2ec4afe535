"""Experiments: one module per experiment, each with a `get_config()` returning a `gan_jax.config.Config`.

`gan-jax train NAME` runs `experiments/NAME.py`; each module's docstring gives the command that runs it.
`gan-jax train path/to/my_experiment.py` runs a file of your own with a `get_config()`.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path

from gan_jax.config import Config, ConfigError


def available() -> list[str]:
    """Experiments that `gan-jax train` runs (modules with a get_config; studies like mode_collapse are
    scripts run with `python -m experiments.NAME`)."""
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return sorted(n for n in names if hasattr(importlib.import_module(f"{__name__}.{n}"), "get_config"))


def get_config(name: str) -> Config:
    """The config of experiment `name`, or of a file `path/to/x.py` defining get_config(); a ConfigError
    listing the experiments if there is none."""
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"experiment file {name} does not exist")
        spec = importlib.util.spec_from_file_location(f"_gan_jax_experiment_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "get_config"):
            raise ConfigError(f"experiment file {name} has no get_config()")
        cfg = module.get_config()
        if not isinstance(cfg, Config):
            raise ConfigError(f"{name}: get_config() returned {type(cfg).__name__}, not a gan_jax.config.Config")
        return cfg
    if name not in available():
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").get_config()
