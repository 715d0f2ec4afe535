"""Shared fixtures: tiny configs and data so the whole suite runs in a couple of minutes on 2 CPU cores."""

from __future__ import annotations

import dataclasses
import os

# On a GPU: the suite's CLI tests start subprocesses that need GPU memory too, so this process must not
# take 75% of it up front (XLA's default); set before JAX is imported.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gan_jax.config import Config, DataConfig, ModelConfig, TrainConfig  # noqa: E402

# Tests compare float32 results at tight tolerances; TF32 GPUs and TPUs default to lower-precision
# matmuls, so ask for full float32 (no effect on the CPU).
jax.config.update("jax_default_matmul_precision", "highest")


def tiny_config(**train) -> Config:
    """The book's architecture at toy width on embedded data; `train` overrides TrainConfig fields."""
    defaults = dict(steps=8, batch_size=8, log_interval=2, sample_interval=4, checkpoint_interval=4)
    return Config(
        experiment="mnist_gan",
        model=ModelConfig(z_dim=8, hidden=16, d_hidden=16),
        data=DataConfig(source="embedded", limit=64),
        train=TrainConfig(**{**defaults, **train}),
    )


# `tiny_config` (less train.steps) as the KEY=VALUE overrides of `gan-jax train mnist_gan --set`
TINY_SET = ["model.hidden=16", "model.d_hidden=16", "model.z_dim=8", "train.batch_size=8", "data.source=embedded",
            "data.limit=64", "train.log_interval=2", "train.sample_interval=4", "train.checkpoint_interval=4"]


@pytest.fixture
def tiny_cli() -> list[str]:
    """`tiny_config` as `gan-jax train mnist_gan` arguments (add more KEY=VALUE after them)."""
    return ["--set", *TINY_SET]


def with_train(cfg: Config, **train) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train))


@pytest.fixture
def images() -> np.ndarray:
    """32 deterministic 28x28x1 images in [-1, 1]."""
    return np.random.default_rng(0).uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)
