"""A player: a Flax NNX module run as a pure function of its variables (`Player`), and the random streams
a game's state starts from (`Streams`).

`Player(factory_or_module, role)` splits a module once into its static graph, its parameters (nnx.Param)
and its other variables (BatchNorm's running averages); `apply`/`call` merge them back for one pass with
the module's RNG streams (dropout) reseeded from that pass's key, and return the output with the
variables the pass moved. Every engine (`gan_jax.game.Game`, the GAN and autoencoder presets) runs its
players through it, so a player's statistics move only where the engine keeps them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from gan_jax import parallel


class Streams(NamedTuple):
    """The three independent random streams of a run: initial weights, per-step noise, data order.

    `init(key)` splits a single key into these; pass a `Streams` to choose each (the CLI's configs seed
    the weights and the noise from `seed` and the data from `data.seed`: `Streams.from_seeds`).
    """

    params: jax.Array
    noise: jax.Array
    data: jax.Array

    @classmethod
    def of(cls, key: "jax.Array | int | Streams") -> "Streams":
        """`key` as Streams: a Streams as it is; a typed key (or an int seed) split three ways.

        Args:
          key: a typed key, an int seed, or Streams.

        Returns:
          Streams(params, noise, data).

        >>> s = Streams.of(0)
        >>> s.params.shape
        ()
        """
        if isinstance(key, Streams):
            return key
        if isinstance(key, int):
            key = jax.random.key(key)
        if not jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
            raise TypeError(f"init needs a typed key (jax.random.key(seed)), an int seed or a Streams, got "
                            f"{type(key).__name__} {getattr(key, 'dtype', '')}")
        return cls(*jax.random.split(key, 3))

    @classmethod
    def from_seeds(cls, seed: int, data_seed: int) -> "Streams":
        """The config convention: weights and noise from key(seed), batches from key(data_seed).

        Args:
          seed: seeds the weights and the noise. data_seed: the data order.

        Returns:
          Streams.

        >>> Streams.from_seeds(0, 1).data.shape
        ()
        """
        key = jax.random.key(seed)
        return cls(key, key, jax.random.key(data_seed))


def main(tree):
    """The array part of a sample, noise or D output: the first element of a tuple, else itself.

    Args:
      tree: an array, or a tuple (images, labels, ...).

    Returns:
      The array.

    >>> main((jnp.zeros(2), jnp.ones(2))).tolist()
    [0.0, 0.0]
    """
    return tree[0] if isinstance(tree, tuple) else tree


def with_main(tree, x):
    """`tree` with its array part replaced by `x` (the labels of a labelled sample kept).

    Args:
      tree: an array, or a tuple (images, labels, ...). x: the new array part.

    Returns:
      x, or (x, labels, ...).

    >>> with_main((1, 2), 5)
    (5, 2)
    """
    return (x, *tree[1:]) if isinstance(tree, tuple) else x


def _has_rng(state) -> bool:
    return bool(jax.tree.leaves(state))


class Player:
    """A module's static graph and its RNG streams' layout, from a factory `rngs -> module` or an instance.

    `init(rngs)` gives (params, rest): the nnx.Param pytree and every other variable (BatchNorm's running
    averages). RNG streams are not part of the state: `apply` reseeds them from the pass's key.
    """

    def __init__(self, module_or_factory: Callable[..., nnx.Module] | nnx.Module, role: str):
        self.source, self.role = module_or_factory, role
        self.template = self._make(nnx.Rngs(0))
        self.graph, _, rng, self.rest_template = nnx.split(self.template, nnx.Param, nnx.RngState, ...)
        self.rng_template = rng
        self.stochastic = _has_rng(rng)

    def _make(self, rngs: nnx.Rngs) -> nnx.Module:
        if isinstance(self.source, nnx.Module):
            return self.source
        if not callable(self.source):
            raise TypeError(f"{self.role} must be an nnx.Module or a callable rngs -> nnx.Module, got "
                            f"{type(self.source).__name__}")
        module = self.source(rngs=rngs)
        if not isinstance(module, nnx.Module):
            raise TypeError(f"{self.role} factory returned {type(module).__name__}, not an nnx.Module")
        return module

    def init(self, rngs: nnx.Rngs) -> tuple[Any, Any]:
        """A fresh module's variables.

        Args:
          rngs: draws the weights (an instance keeps its own).

        Returns:
          (params, rest): the nnx.Param pytree and the other non-RNG variables.

        >>> import functools
        >>> from gan_jax.models import mlp
        >>> params, rest = Player(functools.partial(mlp.Discriminator, (2,), 4, 1, 0.2), "d").init(nnx.Rngs(0))
        """
        _, params, _, rest = nnx.split(self._make(rngs), nnx.Param, nnx.RngState, ...)
        return params, rest

    def rng_state(self, key: jax.Array | None):
        """The RNG streams for one pass.

        Args:
          key: every stream's key is derived from it (a fixed key when None).

        Returns:
          An nnx State of fresh stream keys and zero counts (empty for a module without streams).

        >>> # rng = player.rng_state(jax.random.fold_in(step_key, pass_id))
        """
        if not self.stochastic:
            return self.rng_template
        key = jax.random.key(0) if key is None else key
        counter = iter(range(1 << 30))

        def fresh(x):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.fold_in(key, next(counter))
            return jnp.zeros_like(x)

        return jax.tree.map(fresh, self.rng_template)

    def merge(self, params, rest, precision: str, key: jax.Array | None = None) -> nnx.Module:
        """The module with these variables, its weights in `precision`, its RNG streams seeded from `key`.

        Args:
          params, rest: its variables. precision: the compute dtype. key: reseeds its RNG streams.

        Returns:
          A module to call. `copy=True`: since flax 0.11.2 merge reuses the given Variables, which then
          cannot be mutated under a `jax.grad` trace (flax issue #5050).

        >>> # vae = player.merge(state.params, player.rest_template, "float32"); vae.encode(x)
        """
        return nnx.merge(self.graph, parallel.compute(params, precision), self.rng_state(key), rest, copy=True)

    def apply(self, params, rest, x: jax.Array, train: bool, precision: str, key: jax.Array | None = None):
        """Runs the module on `x`.

        Args:
          params, rest: its variables. x: the input batch. train: the module's train flag.
          precision: the compute dtype. key: reseeds its RNG streams for this pass.

        Returns:
          (float32 output, the non-parameter variables after the pass: batch statistics' running averages
          move in train mode).

        >>> # logits, new_rest = gan.d.apply(state.d_params, state.d_rest, x, True, "float32", key)
        """
        return self.call(params, rest, "__call__", (x,), {"train": train}, train, precision, key)

    def takes_train(self, method: str) -> bool:
        """Whether the module's `method` has a `train` parameter (the players' convention for batch
        statistics and dropout), so a caller knows whether to pass one.

        Args:
          method: a method name ("__call__", "encode", ...).

        Returns:
          True when `train` is among its parameters.

        >>> import functools
        >>> from gan_jax.models import mlp
        >>> Player(functools.partial(mlp.Discriminator, (2,), 4, 1, 0.2), "d").takes_train("__call__")
        True
        """
        fn = getattr(type(self.template), method, None)
        if fn is None:
            raise AttributeError(f"{self.role}: its module {type(self.template).__name__} has no method {method!r}")
        try:
            return "train" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False

    def call(self, params, rest, method: str, args: tuple, kwargs: dict, train: bool, precision: str,
             key: jax.Array | None = None):
        """Runs one of the module's methods (`__call__`, `encode`, a head of yours) with these variables.

        Args:
          params, rest: its variables. method: the method's name. args, kwargs: its arguments (float arrays
          cast to `precision`); `train=train` is added when the method takes `train` and kwargs lack it.
          train: the train flag to add. precision: the compute dtype. key: reseeds its RNG streams.

        Returns:
          (the output with its floats in float32, the non-parameter variables after the pass).

        >>> import functools
        >>> from gan_jax.models import mlp
        >>> d = Player(functools.partial(mlp.Discriminator, (2,), 4, 1, 0.2), "d")
        >>> params, rest = d.init(nnx.Rngs(0))
        >>> d.call(params, rest, "__call__", (jnp.zeros((3, 2)),), {}, True, "float32")[0].shape
        (3,)
        """
        module = self.merge(params, rest, precision, key)
        if "train" not in kwargs and self.takes_train(method):
            kwargs = {**kwargs, "train": train}
        out = getattr(module, method)(*parallel.compute(args, precision), **kwargs)
        # the statistics keep their dtypes (a bfloat16 pass does not change the stored ones)
        new_rest = nnx.split(module, nnx.Param, nnx.RngState, ...)[3]
        new_rest = jax.tree.map(lambda new, old: new.astype(old.dtype), new_rest, rest)
        out = jax.tree.map(lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a, out)
        return out, new_rest


def moving_average(average, params, decay: float, step: jax.Array):
    """A moving average moved one update towards `params`, warmed up as TensorFlow's: its decay is
    min(decay, (1 + t) / (10 + t)) at step t, so early weights fade fast.

    Args:
      average: the average (a pytree like params). params: the new weights. decay: the decay once warmed up.
      step: the iteration t.

    Returns:
      decay_t * average + (1 - decay_t) * params.

    >>> round(float(moving_average(jnp.zeros(()), jnp.ones(()), 0.999, jnp.asarray(0))), 6)   # decay 1/10 at t = 0
    0.9
    """
    t = step.astype(jnp.float32)
    return optax.incremental_update(params, average, 1.0 - jnp.minimum(decay, (1.0 + t) / (10.0 + t)))
