"""`Seeds(engine, n)`: n independent seeds of one engine trained as one, by `jax.vmap` over its pure steps.

Every leaf of the state gains a leading axis of size n; one compiled call advances all seeds, each with its
own weights, noise and batches (each seed's keys are its own). Seed i follows its own single run with the
same keys up to float rounding, not to the bit: vmap turns the players' matrix products into batched ones,
which XLA:CPU rounds differently (~1e-6 after one step, tested), and GAN training amplifies such differences
over thousands of steps; compare seeds by their distribution, not bitwise. `Seeds` is itself an engine:
`gan_jax.fit` trains it into one run directory, with

  metrics.jsonl   every metric as the mean over seeds (`d_loss`) and per seed (`d_loss/seed0`, ...)
  samples/        one grid per seed, side by side, at each preview step
  checkpoints/    the stacked state (resume continues every seed)

`gan-jax train EXP --seeds 5` is `Seeds(engine, 5)` with seed i's weights and noise from key(seed + i)
and its data order from key(data.seed + i): seed i is the single run `--set seed=S+i data.seed=D+i`.
`summarise` turns per-seed results into mean and standard error (what `gan-jax eval` reports).

Example:
    >>> # seeds = gj.Seeds(gan, 5)
    >>> # outcome = gj.fit(seeds, images, run_dir="runs/five", steps=5000)
    >>> # state_2 = seeds.member(outcome.state, 2)      # seed 2's GANState
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.players import Streams


def seed_metric(name: str, i: int) -> str:
    """The metrics.jsonl column of metric `name` for seed `i`.

    Args:
      name: a metric of the engine. i: the seed's index.

    Returns:
      "name/seed<i>".

    >>> seed_metric("d_loss", 2)
    'd_loss/seed2'
    """
    return f"{name}/seed{i}"


def base_metric(column: str) -> str:
    """The metric a column belongs to ("d_loss/seed2" -> "d_loss"; a column without a seed as it is).

    Args:
      column: a metrics.jsonl column.

    Returns:
      The metric's name.

    >>> base_metric("d_loss/seed2"), base_metric("d_loss")
    ('d_loss', 'd_loss')
    """
    head, _, tail = column.rpartition("/seed")
    return head if head and tail.isdigit() else column


def stack(trees: Sequence) -> Any:
    """Stacks pytrees of the same structure along a new leading axis.

    Args:
      trees: pytrees (states, Streams).

    Returns:
      One pytree whose leaves are the stacked leaves.

    >>> stack([{"a": jnp.zeros(2)}, {"a": jnp.ones(2)}])["a"].shape
    (2, 2)
    """
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def config_streams(seed: int, data_seed: int, n: int) -> Streams:
    """The config convention for n seeds: seed i's weights and noise from key(seed + i), its batches from
    key(data_seed + i) (so seed i is the single run with seed=seed+i, data.seed=data_seed+i).

    Args:
      seed, data_seed: the first seed's. n: how many seeds.

    Returns:
      `Streams` whose keys have a leading axis of size n.

    >>> config_streams(0, 0, 3).params.shape
    (3,)
    """
    return stack([Streams.from_seeds(seed + i, data_seed + i) for i in range(n)])


class Seeds:
    """n seeds of `engine` as one engine (the run-loop protocol of `gan_jax.run`).

    Args:
      engine: a `GAN`, `Autoencoder` or any engine whose init/train_step/sample are pure.
      n: how many seeds (>= 1).
      data_axes: which parts of the dataset differ per seed, as a `jax.vmap` in_axes prefix of it: None
        (default) shares the whole dataset; `sampling.Parts(None, 0)` shares part 0 (the images) and gives
        each seed its own part 1 (stacked along a leading axis of size n: a labelled subset per seed,
        say).

    Example:
      >>> # seeds = Seeds(gan, 5); states = seeds.init(jax.random.key(0))   # leaves: 5 x ...
    """

    def __init__(self, engine, n: int, data_axes: Any = None):
        if isinstance(engine, Seeds):
            raise ValueError("Seeds of Seeds: pass the engine itself")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"seeds must be an integer >= 1, got {n!r}")
        mesh = getattr(engine, "parallel", None)
        if mesh is not None and mesh.n > 1:
            raise ValueError(f"seeds: trains on one device; this engine spans {mesh.n} devices (devices=1, or "
                             "train.devices=1, to train seeds together)")
        self.engine, self.n = engine, n
        self.data_axes = data_axes
        inner = getattr(engine, "recipe", None)  # how a run rebuilds it (gan_jax.recipes); data_axes are not recorded
        self.recipe = {**inner, "seeds": n} if isinstance(inner, dict) and data_axes is None else None
        self._step = jax.vmap(engine.train_step, in_axes=(0, data_axes))
        self._sample = jax.vmap(engine.sample, in_axes=(0, None))

    def __repr__(self) -> str:
        return f"Seeds({self.engine!r}, {self.n})"

    def keys(self, key) -> Any:
        """What seed i's `engine.init` takes, stacked: a Streams or key array with leading axis n as it
        is; a typed key (or int seed) split n ways.

        Args:
          key: a typed key, an int seed, or stacked keys/Streams.

        Returns:
          A pytree of keys with leading axis n.

        >>> # Seeds(gan, 3).keys(0).shape      # (3,): jax.random.split(key(0), 3)
        """
        if isinstance(key, int):
            key = jax.random.key(key)
        leaves = jax.tree.leaves(key)
        shapes = {tuple(x.shape) for x in leaves}
        if shapes == {()}:
            if isinstance(key, Streams):
                return Streams(*(jax.random.split(k, self.n) for k in key))
            return jax.random.split(key, self.n)
        if shapes != {(self.n,)}:
            raise ValueError(f"seeds: expected one key or keys of shape ({self.n},), got shapes {sorted(shapes)}")
        return key

    def init(self, key) -> Any:
        """Every seed's fresh state, stacked.

        Args:
          key: see `keys`.

        Returns:
          The engine's state with a leading axis of size n on every leaf.

        >>> # states = Seeds(gan, 3).init(jax.random.key(0))
        """
        return jax.vmap(self.engine.init)(self.keys(key))

    def train_step(self, state, data) -> tuple[Any, dict]:
        """One iteration of every seed on the same dataset (each draws its own batch).

        Args:
          state: stacked states. data: the whole dataset (its `data_axes` parts stacked per seed).

        Returns:
          (stacked states, metrics): each metric's mean over seeds under its own name, and each seed's
          under `seed_metric(name, i)`.

        >>> # states, metrics = gj.jit(seeds.train_step)(states, images)
        """
        state, per_seed = self._step(state, data)
        metrics = {}
        for name, values in per_seed.items():
            metrics[name] = jnp.mean(values)
            metrics.update({seed_metric(name, i): values[i] for i in range(self.n)})
        return state, metrics

    def sample(self, state, z) -> jax.Array:
        """Every seed's samples from the same noise.

        Args:
          state: stacked states. z: noise from `noise`.

        Returns:
          n x N x ... samples.

        >>> # x = seeds.sample(states, seeds.noise(key, 16))    # 5 x 16 x 28 x 28 x 1
        """
        return self._sample(state, z)

    def noise(self, key, n: int):
        """The engine's noise (the same z for every seed).

        Args:
          key: a typed key. n: how many.

        Returns:
          As `engine.noise`.

        >>> # z = seeds.noise(jax.random.key(0), 16)
        """
        return self.engine.noise(key, n)

    def grid_noise(self, key, n: int):
        """The engine's preview noise and grid columns (`GAN.grid_noise`), the same for every seed.

        Args:
          key: a typed key. n: samples wanted.

        Returns:
          (noise, columns or None).

        >>> # z, cols = seeds.grid_noise(jax.random.key(1234), 16)
        """
        grid = getattr(self.engine, "grid_noise", None)
        return grid(key, n) if grid is not None else (self.engine.noise(key, n), None)

    def member(self, state, i: int) -> Any:
        """Seed i's state, as the wrapped engine takes it.

        Args:
          state: stacked states. i: the seed's index, 0 <= i < n.

        Returns:
          The engine's state of seed i.

        >>> # gan.sample(seeds.member(states, 2), z)
        """
        if not 0 <= i < self.n:
            raise IndexError(f"seed index {i} is out of range for {self.n} seeds")
        return jax.tree.map(lambda x: x[i], state)

    @property
    def compact_data(self) -> bool:
        return bool(getattr(self.engine, "compact_data", False))

    @property
    def headline(self) -> tuple[str, ...]:
        return tuple(getattr(self.engine, "headline", None) or ())

    @property
    def plateau(self) -> tuple[str, ...]:
        return tuple(getattr(self.engine, "plateau", None) or self.headline)

    @property
    def panels(self) -> tuple[tuple[str, ...], ...]:
        return tuple(getattr(self.engine, "panels", None) or ())

    @property
    def samples_per_batch(self) -> int:
        return self.engine.samples_per_batch

    def check_data(self, shape: tuple[int, ...]) -> None:
        """The engine's check of one sample's shape (when it has one).

        Args:
          shape: one sample's shape.

        Returns:
          None.

        >>> # seeds.check_data((28, 28, 1))
        """
        if hasattr(self.engine, "check_data"):
            self.engine.check_data(shape)


def single(engine):
    """The engine one seed runs: `engine` itself, or the engine a `Seeds` wraps.

    Args:
      engine: an engine.

    Returns:
      The engine of one seed.

    >>> from gan_jax import game
    >>> tiny = game._tiny_game()
    >>> single(Seeds(tiny, 2)) is tiny, single(tiny) is tiny
    (True, True)
    """
    return engine.engine if isinstance(engine, Seeds) else engine


def count(engine) -> int:
    """How many seeds an engine trains at once: n for `Seeds`, 0 for an engine of one.

    Args:
      engine: an engine.

    Returns:
      An int.

    >>> from gan_jax import game
    >>> count(Seeds(game._tiny_game(), 3)), count(game._tiny_game())
    (3, 0)
    """
    return engine.n if isinstance(engine, Seeds) else 0


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean and its standard error (sample std / sqrt(n); 0 for one value, NaN when any is not finite).

    Args:
      values: one number per seed.

    Returns:
      (mean, standard error).

    >>> mean_se([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896258)
    """
    v = np.asarray(values, np.float64)
    if not np.all(np.isfinite(v)):
        return float(v.mean()), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def summarise(results: Sequence[dict]) -> tuple[dict, dict]:
    """Per-seed result dicts -> (means, standard errors), key by key.

    Args:
      results: one dict per seed with the same keys; numbers are averaged, lists of numbers element-wise
        (their standard errors too); what every seed has the same (a count, a name) is kept as it is.

    Returns:
      (mean dict, standard-error dict holding the numeric keys).

    >>> summarise([{"fd": 1.0, "n": 10}, {"fd": 3.0, "n": 10}])
    ({'fd': 2.0, 'n': 10}, {'fd': 1.0, 'n': 0.0})
    """
    means, errors = {}, {}
    for key, first in results[0].items():
        values = [r[key] for r in results]
        numeric = isinstance(first, (int, float)) and not isinstance(first, bool)
        if all(v == first for v in values):
            means[key] = first
            if numeric:
                errors[key] = 0.0
        elif numeric:
            means[key], errors[key] = mean_se(values)
        elif isinstance(first, list) and all(isinstance(x, (int, float)) for x in first):
            pairs = [mean_se(column) for column in zip(*values)]
            means[key], errors[key] = [m for m, _ in pairs], [e for _, e in pairs]
        else:
            means[key] = first
    return means, errors
