"""The book's chapter-3 players: a one-hidden-layer MLP generator and discriminator (Flax NNX)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

# Keras's Dense default, which the book's models use.
_KERNEL_INIT = nnx.initializers.glorot_uniform()


class Generator(nnx.Module):
    """z_BxZ -> Dense(hidden) -> LeakyReLU -> Dense(H*W*C) -> tanh -> x_BxHxWxC in [-1, 1]."""

    def __init__(self, z_dim: int, img_shape: tuple[int, int, int], hidden: int, leak: float, *, rngs: nnx.Rngs):
        self.img_shape = tuple(img_shape)
        self.leak = leak
        self.hidden = nnx.Linear(z_dim, hidden, kernel_init=_KERNEL_INIT, rngs=rngs)
        self.out = nnx.Linear(hidden, math.prod(img_shape), kernel_init=_KERNEL_INIT, rngs=rngs)

    def __call__(self, z_BxZ: jax.Array) -> jax.Array:
        h_BxH = jax.nn.leaky_relu(self.hidden(z_BxZ), self.leak)
        return jnp.tanh(self.out(h_BxH)).reshape((z_BxZ.shape[0], *self.img_shape))


class Discriminator(nnx.Module):
    """x_BxHxWxC -> flatten -> Dense(hidden) -> LeakyReLU -> Dense(1): the logit of "real".

    The probability is `sigmoid(logit)`; losses are computed from the logit for numerical stability.
    """

    def __init__(self, img_shape: tuple[int, int, int], hidden: int, leak: float, *, rngs: nnx.Rngs):
        self.leak = leak
        self.hidden = nnx.Linear(math.prod(img_shape), hidden, kernel_init=_KERNEL_INIT, rngs=rngs)
        self.out = nnx.Linear(hidden, 1, kernel_init=_KERNEL_INIT, rngs=rngs)

    def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
        h_BxH = jax.nn.leaky_relu(self.hidden(x_BxHxWxC.reshape((x_BxHxWxC.shape[0], -1))), self.leak)
        return self.out(h_BxH)[:, 0]
