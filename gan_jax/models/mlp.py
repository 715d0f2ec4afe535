"""MLP players: the book's chapter-3 generator and discriminator, and deeper ones for 2-D mixtures.

With the defaults (one hidden layer of 128 units, LeakyReLU(0.01), tanh output) these are exactly the
book's models; `layers`, `hidden`, `leak` (0 = ReLU) and the output activation are configurable. The
discriminator can read `pack` samples at once (PacGAN): they are concatenated into one input.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

# Keras's Dense default, which the book's models use.
_KERNEL_INIT = nnx.initializers.glorot_uniform()

OUTPUTS = {"tanh": jnp.tanh, "linear": lambda x: x}


class _Stack(nnx.Module):
    """`layers` Dense layers of `hidden` units with LeakyReLU(`leak`), then Dense(`out`)."""

    def __init__(self, d_in: int, hidden: int, layers: int, out: int, leak: float, *, rngs: nnx.Rngs):
        self.leak = leak
        sizes = [d_in] + [hidden] * layers
        self.hidden = nnx.List([nnx.Linear(a, b, kernel_init=_KERNEL_INIT, rngs=rngs) for a, b in zip(sizes, sizes[1:])])
        self.out = nnx.Linear(sizes[-1], out, kernel_init=_KERNEL_INIT, rngs=rngs)

    def features(self, h: jax.Array) -> jax.Array:
        """The last hidden layer's activations."""
        for layer in self.hidden:
            h = jax.nn.leaky_relu(layer(h), self.leak)
        return h

    def __call__(self, h: jax.Array) -> jax.Array:
        return self.out(self.features(h))


class Generator(nnx.Module):
    """z_BxZ -> MLP -> output activation -> samples of `sample_shape` (the book: tanh, 28x28x1)."""

    def __init__(self, z_dim: int, sample_shape: tuple[int, ...], hidden: int, layers: int, leak: float,
                 output: str = "tanh", *, rngs: nnx.Rngs):
        self.sample_shape = tuple(sample_shape)
        self.output = output
        self.net = _Stack(z_dim, hidden, layers, math.prod(sample_shape), leak, rngs=rngs)

    def __call__(self, z_BxZ: jax.Array, train: bool = False) -> jax.Array:
        del train  # no batch statistics
        return OUTPUTS[self.output](self.net(z_BxZ)).reshape((z_BxZ.shape[0], *self.sample_shape))


class Discriminator(nnx.Module):
    """x_(B*pack)x... -> flatten, `pack` samples per row -> MLP -> the logit of "real", shape (B,).

    The probability is `sigmoid(logit)`; losses are computed from the logit for numerical stability.
    """

    def __init__(self, sample_shape: tuple[int, ...], hidden: int, layers: int, leak: float, pack: int = 1,
                 *, rngs: nnx.Rngs):
        self.pack = pack
        self.net = _Stack(pack * math.prod(sample_shape), hidden, layers, 1, leak, rngs=rngs)
        self.feature_dim = hidden if layers else pack * math.prod(sample_shape)

    def features(self, x: jax.Array, train: bool = False) -> jax.Array:
        """The last hidden layer's activations (what the logit is a linear function of).

        Args:
          x: B * pack samples. train: unused (no batch statistics).

        Returns:
          B x feature_dim.

        >>> # h = d.features(x); logits = d.head(h)     # == d(x)
        """
        del train
        return self.net.features(x.reshape((x.shape[0] // self.pack, -1)))

    def head(self, h: jax.Array) -> jax.Array:
        """The logit from `features`.

        Args:
          h: B x feature_dim features.

        Returns:
          B logits.

        >>> # d.head(d.features(x))
        """
        return self.net.out(h)[:, 0]

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.head(self.features(x, train))
