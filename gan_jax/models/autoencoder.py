"""Autoencoders (GANs in Action, ch. 2): an encoder to a small latent code and a decoder back.

Every model has `encode(x) -> (mean, logvar)` and `decode(z) -> decoder output` (the logits of a
Bernoulli or the mean of a Gaussian, per pixel; `gan_jax.autoencode` turns them into a likelihood).
A plain autoencoder's code is deterministic: its `logvar` is None. The VAE's encoder outputs the mean and
log-variance of a diagonal Gaussian q(z|x).

  ae         the book's MLP: x -> `layers` x Dense(hidden) -> Dense(latent) -> `layers` x Dense(hidden) -> Dense(out)
  vae        the same MLPs with a mean and a log-variance head (the book's ch.2 VAE: one 256-unit ReLU
             layer, a 2-d latent; the IWAE paper's: two 200-unit tanh layers, a 50-d latent)
  conv_ae    Conv(32, 3x3, s2) -> Conv(64, 3x3, s2) -> Dense(latent); Dense(7x7x64) -> ConvT(32, s2) -> ConvT(C_out, s2)
  linear_ae  one weight matrix (and bias) each side, no activation: the book's link to PCA

Inputs are flattened for the MLP models; `out_shape` is what the decoder rebuilds (the input's shape, or
its colour version for colorization).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from gan_jax.models import dcgan

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.01)}
AUTOENCODERS = ("ae", "vae", "conv_ae", "linear_ae")


class _MLP(nnx.Module):
    def __init__(self, d_in: int, hidden: int, layers: int, out: int, activation: str, *, rngs: nnx.Rngs):
        self.activation = activation
        sizes = [d_in] + [hidden] * layers
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])
        self.out = nnx.Linear(sizes[-1], out, rngs=rngs)

    def __call__(self, h: jax.Array) -> jax.Array:
        for layer in self.hidden:
            h = ACTIVATIONS[self.activation](layer(h))
        return self.out(h)


class MLPAutoencoder(nnx.Module):
    """`ae` (variational=False) and `vae` (variational=True)."""

    def __init__(self, in_shape, out_shape, latent: int, hidden: int, layers: int, activation: str,
                 variational: bool, *, rngs: nnx.Rngs):
        self.out_shape, self.variational, self.latent = tuple(out_shape), variational, latent
        self.encoder = _MLP(math.prod(in_shape), hidden, layers, latent * (2 if variational else 1), activation, rngs=rngs)
        self.decoder = _MLP(latent, hidden, layers, math.prod(out_shape), activation, rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """The code of a batch.

        Args:
          x: B x ... model inputs (flattened here).

        Returns:
          (mean, logvar) for the VAE, (code, None) for the plain autoencoder.

        >>> # mean, logvar = vae.encode(x)
        """
        h = self.encoder(x.reshape((x.shape[0], -1)))
        if self.variational:
            return h[:, : self.latent], h[:, self.latent :]
        return h, None

    def decode(self, z: jax.Array) -> jax.Array:
        """The decoder's output for codes.

        Args:
          z: B x latent.

        Returns:
          B x out_shape logits or means.

        >>> # logits = vae.decode(z)
        """
        return self.decoder(z).reshape((z.shape[0], *self.out_shape))


class LinearAutoencoder(nnx.Module):
    """z = W_e x + b_e, x' = W_d z + b_d; at its optimum span(W_d) is the top principal subspace."""

    def __init__(self, in_shape, out_shape, latent: int, *, rngs: nnx.Rngs):
        self.out_shape, self.latent = tuple(out_shape), latent
        self.encoder = nnx.Linear(math.prod(in_shape), latent, rngs=rngs)
        self.decoder = nnx.Linear(latent, math.prod(out_shape), rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, None]:
        """z = W_e x + b_e.

        Args:
          x: B x ... inputs (flattened here).

        Returns:
          (code, None).

        >>> # code, _ = linear.encode(x)
        """
        return self.encoder(x.reshape((x.shape[0], -1))), None

    def decode(self, z: jax.Array) -> jax.Array:
        """x' = W_d z + b_d.

        Args:
          z: B x latent.

        Returns:
          B x out_shape.

        >>> # x = linear.decode(z)
        """
        return self.decoder(z).reshape((z.shape[0], *self.out_shape))


class ConvAutoencoder(nnx.Module):
    """Two stride-2 convs down to a Dense code, a Dense and two stride-2 transposed convs back (ReLU);
    H and W must be divisible by 4."""

    def __init__(self, in_shape, out_shape, latent: int, activation: str, *, rngs: nnx.Rngs):
        (h, w, c), c_out = in_shape, out_shape[-1]
        self.out_shape, self.latent, self.activation = tuple(out_shape), latent, activation
        self.side = (h // 4, w // 4)
        self.conv1 = dcgan.Conv(c, 32, 3, 2, rngs=rngs)
        self.conv2 = dcgan.Conv(32, 64, 3, 2, rngs=rngs)
        self.code = nnx.Linear(self.side[0] * self.side[1] * 64, latent, rngs=rngs)
        self.expand = nnx.Linear(latent, self.side[0] * self.side[1] * 64, rngs=rngs)
        self.deconv1 = dcgan.ConvTranspose(64, 32, 3, 2, rngs=rngs)
        self.deconv2 = dcgan.ConvTranspose(32, c_out, 3, 2, rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, None]:
        """Two stride-2 convolutions and a Dense to the code.

        Args:
          x: B x H x W x C.

        Returns:
          (code, None).

        >>> # code, _ = conv_ae.encode(x)
        """
        f = ACTIVATIONS[self.activation]
        h = f(self.conv2(f(self.conv1(x))))
        return self.code(h.reshape((x.shape[0], -1))), None

    def decode(self, z: jax.Array) -> jax.Array:
        """A Dense and two stride-2 transposed convolutions back to images.

        Args:
          z: B x latent.

        Returns:
          B x H x W x C_out logits or means.

        >>> # logits = conv_ae.decode(z)
        """
        f = ACTIVATIONS[self.activation]
        h = f(self.expand(z)).reshape((z.shape[0], *self.side, 64))
        return self.deconv2(f(self.deconv1(h)))


def build(name: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], z_dim: int, hidden: int = 256,
          layers: int = 1, activation: str = "relu"):
    """A factory `rngs -> module` for the autoencoder `name` (ae, vae, conv_ae or linear_ae).

    Args:
      name: which model. in_shape: the model's input (1 channel for colorization); out_shape: what the
        decoder rebuilds. z_dim: the latent size. hidden, layers: each side's MLP (ae, vae).
      activation: relu, tanh or leaky_relu.

    Returns:
      A functools.partial awaiting `rngs=`.

    >>> vae = build("vae", (28, 28, 1), (28, 28, 1), z_dim=2)
    """
    if name not in AUTOENCODERS:
        raise ValueError(f"name: got {name!r}, expected one of {', '.join(AUTOENCODERS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: got {activation!r}, expected one of {', '.join(ACTIVATIONS)}")
    if name in ("ae", "vae"):
        return functools.partial(MLPAutoencoder, in_shape, out_shape, z_dim, hidden, layers, activation, name == "vae")
    if name == "linear_ae":
        return functools.partial(LinearAutoencoder, in_shape, out_shape, z_dim)
    if len(in_shape) != 3 or in_shape[0] % 4 or in_shape[1] % 4:
        raise ValueError(f"conv_ae needs H x W x C images with H and W divisible by 4, got {tuple(in_shape)}")
    return functools.partial(ConvAutoencoder, in_shape, out_shape, z_dim, activation)
