"""Flax NNX players and autoencoders: the book's models, as factories the engines take.

`mlp_players(...)` and `dcgan_players(...)` return (generator, discriminator) factories, each a
`functools.partial` of a module class awaiting `rngs=`, so `GAN.init(key)` draws fresh weights:

    >>> G, D = mlp_players((28, 28, 1), z_dim=100)
    >>> import gan_jax as gj, optax
    >>> gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=100)
"""

from __future__ import annotations

import functools

from gan_jax.models import autoencoder, dcgan, mlp


def mlp_players(sample_shape: tuple[int, ...], z_dim: int = 100, hidden: int = 128, layers: int = 1,
                d_hidden: int = 128, d_layers: int = 1, leak: float = 0.01, output: str = "tanh", pack: int = 1):
    """The book's chapter-3 MLP players (defaults: one hidden layer of 128, LeakyReLU(0.01), tanh output).

    Args:
      sample_shape: one sample's shape (28, 28, 1), or (2,) for 2-D points.
      z_dim: noise dimension. hidden, layers: G's MLP. d_hidden, d_layers: D's. leak: LeakyReLU slope.
      output: G's output activation, "tanh" (images in [-1, 1]) or "linear". pack: PacGAN packing.

    Returns:
      (generator factory, discriminator factory).

    >>> G, D = mlp_players((2,), z_dim=2, hidden=128, layers=3, output="linear")   # for 2-D mixtures
    """
    if output not in mlp.OUTPUTS:
        raise ValueError(f"output: got {output!r}, expected one of {', '.join(mlp.OUTPUTS)}")
    shape = tuple(sample_shape)
    return (functools.partial(mlp.Generator, z_dim, shape, hidden, layers, leak, output),
            functools.partial(mlp.Discriminator, shape, d_hidden, d_layers, leak, pack))


def dcgan_players(sample_shape: tuple[int, ...], z_dim: int = 100, leak: float = 0.01, d_norm: str = "batch",
                  pack: int = 1):
    """The book's chapter-4 DCGAN players, for H x W x C images with H and W divisible by 4.

    Args:
      sample_shape: (H, W, C). z_dim: noise dimension. leak: LeakyReLU slope.
      d_norm: "batch" (the book) or "none" (per-sample outputs, for gradient penalties). pack: PacGAN.

    Returns:
      (generator factory, discriminator factory).

    >>> G, D = dcgan_players((28, 28, 1), z_dim=100, d_norm="none")   # for gradient penalties
    """
    if len(sample_shape) != 3 or sample_shape[0] % 4 or sample_shape[1] % 4:
        raise ValueError(f"dcgan needs H x W x C images with H and W divisible by 4, got {tuple(sample_shape)}")
    if d_norm not in dcgan.D_NORMS:
        raise ValueError(f"d_norm: got {d_norm!r}, expected one of {', '.join(dcgan.D_NORMS)}")
    shape = tuple(sample_shape)
    return (functools.partial(dcgan.Generator, z_dim, shape, leak),
            functools.partial(dcgan.Discriminator, shape, leak, d_norm, pack))


__all__ = ["autoencoder", "dcgan", "mlp", "mlp_players", "dcgan_players"]
