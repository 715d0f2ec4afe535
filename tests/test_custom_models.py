"""Custom models survive the process: a run made with a user's own module (named by import path, its own
hyperparameters in model.kwargs) and own loss is trained from an experiment file, then sampled and resumed
by `gan-jax` in new processes, and loaded back with gj.load_run."""

import json
import subprocess
import sys
import textwrap

import numpy as np

import gan_jax as gj
from test_gan import _equal

USER_FILE = '''
"""A user's experiment file: its own NNX players, its own loss, and a get_config()."""
import functools
import jax
import jax.numpy as jnp
from flax import nnx
from gan_jax.config import Config, DataConfig, ModelConfig, GANConfig, TrainConfig


class Gen(nnx.Module):
    def __init__(self, z_dim, width, *, rngs):
        self.a = nnx.Linear(z_dim, width, rngs=rngs)
        self.b = nnx.Linear(width, 28 * 28, rngs=rngs)

    def __call__(self, z, train=False):
        return jnp.tanh(self.b(jax.nn.relu(self.a(z)))).reshape(z.shape[0], 28, 28, 1)


class Disc(nnx.Module):
    def __init__(self, width, *, rngs):
        self.a = nnx.Linear(28 * 28, width, rngs=rngs)
        self.drop = nnx.Dropout(0.2, rngs=rngs)
        self.b = nnx.Linear(width, 1, rngs=rngs)

    def __call__(self, x, train=False):
        h = self.drop(jax.nn.leaky_relu(self.a(x.reshape(x.shape[0], -1)), 0.2), deterministic=not train)
        return self.b(h)[:, 0]


def players(sample_shape, z_dim, width=32):
    return functools.partial(Gen, z_dim, width), functools.partial(Disc, width)


def squared_hinge(real_logits, fake_logits):
    d = jnp.mean(jax.nn.relu(1 - real_logits) ** 2) + jnp.mean(jax.nn.relu(1 + fake_logits) ** 2)
    return d, -jnp.mean(fake_logits)


def get_config():
    return Config(
        experiment="my_gan",
        model=ModelConfig(name=f"{__file__}:players", z_dim=8, kwargs={"width": 12}),
        gan=GANConfig(loss=f"{__file__}:squared_hinge"),
        data=DataConfig(source="embedded", limit=64),
        train=TrainConfig(steps=8, batch_size=8, log_interval=2, sample_interval=4, checkpoint_interval=4),
    )
'''

PACKAGE = '''
import functools
from gan_jax import models


def players(sample_shape, z_dim, hidden=8):
    """The book's MLP players at a width of the user's choosing."""
    return models.mlp_players(sample_shape, z_dim=z_dim, hidden=hidden, d_hidden=hidden)
'''


def _cli(*args, cwd):
    out = subprocess.run([sys.executable, "-m", "gan_jax.cli", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]
    return out.stdout


def test_an_experiment_file_with_its_own_players_and_loss_trains_samples_and_resumes_in_new_processes(tmp_path):
    (tmp_path / "my_experiment.py").write_text(textwrap.dedent(USER_FILE))
    _cli("train", "my_experiment.py", "--run-dir", "whole", "--no-progress", cwd=tmp_path)
    _cli("train", "my_experiment.py", "--run-dir", "half", "--no-progress", "--set", "train.steps=4", cwd=tmp_path)
    printed = _cli("train", "my_experiment.py", "--run-dir", "half", "--resume", "--no-progress", "--set",
                   "train.steps=8", cwd=tmp_path)
    assert "resuming" in printed and "done at step 8" in printed
    recorded = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert recorded["model"]["name"].endswith("my_experiment.py:players") and recorded["model"]["kwargs"] == {"width": 12}
    assert recorded["gan"]["loss"].endswith("my_experiment.py:squared_hinge")
    _cli("sample", "whole", "--n", "5", "--out", "x.npy", cwd=tmp_path)
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (5, 28, 28, 1) and -1 <= x.min() and x.max() <= 1
    whole, half = gj.load_run(tmp_path / "whole"), gj.load_run(tmp_path / "half")
    assert whole.step == half.step == 8 and whole.config.experiment == "my_gan"
    assert whole.engine.settings.d_update == "joint"  # the user's loss compares nothing but is no SplitLoss
    assert _equal(whole.state, half.state)  # resumed in another process: bitwise the uninterrupted run
    assert whole.state.d_params["a"]["kernel"].shape == (784, 12)  # model.kwargs reached the builder


def test_a_model_from_a_package_on_the_path(tmp_path):
    (tmp_path / "mynets").mkdir()
    (tmp_path / "mynets" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    tiny = ["data.source=embedded", "data.limit=64", "train.batch_size=8", "train.steps=4", "train.log_interval=2",
            "train.sample_interval=4", "train.checkpoint_interval=4", "model.z_dim=8"]
    _cli("train", "mnist_gan", "--run-dir", "r", "--no-progress", "--set", "model.name=mynets:players",
         'model.kwargs={"hidden": 6}', *tiny, cwd=tmp_path)
    _cli("sample", "r", "--n", "3", "--out", "x.npy", cwd=tmp_path)  # a new process imports mynets again
    assert np.load(tmp_path / "x.npy").shape == (3, 28, 28, 1)
