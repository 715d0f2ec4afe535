"""Flax NNX players and autoencoders: the book's models, as factories the engines take.

`mlp_players(...)` and `dcgan_players(...)` return (generator, discriminator) factories, each a
`functools.partial` of a module class awaiting `rngs=`, so `GAN.init(key)` draws fresh weights:

    >>> G, D = mlp_players((28, 28, 1), z_dim=100)
    >>> import gan_jax as gj, optax
    >>> gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=100)
"""

from __future__ import annotations

import functools

from gan_jax.models import autoencoder, conditional, dcgan, mlp


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


CONDITIONING = ("concat", "projection", "acgan")


def conditional_players(players, sample_shape: tuple[int, ...], classes: int, z_dim: int,
                        conditioning: str = "concat"):
    """Conditional players from a builder of unconditional ones (`mlp_players`, `dcgan_players`).

    Args:
      players: shape -> (G factory, D factory), e.g. functools.partial(mlp_players, z_dim=100).
      sample_shape: (H, W, C) of the images. classes: labels. z_dim: G's noise dimension.
      conditioning: "concat" (the book's CGAN: z times a label embedding, the label as an extra image
        channel for D), "projection" (a projection discriminator) or "acgan" (an auxiliary classifier;
        train with `gan_jax.losses.ACGANLoss`).

    Returns:
      (generator factory, discriminator factory) for (z, labels) noise and (images, labels) samples.

    >>> G, D = conditional_players(functools.partial(mlp_players, z_dim=8, hidden=16), (28, 28, 1), 10, 8)
    """
    if conditioning not in CONDITIONING:
        raise ValueError(f"conditioning: got {conditioning!r}, expected one of {', '.join(CONDITIONING)}")
    if classes < 2:
        raise ValueError(f"classes: a conditional GAN needs >= 2 classes, got {classes}")
    shape = tuple(sample_shape)
    if len(shape) != 3:
        raise ValueError(f"conditional players need H x W x C images, got samples of shape {shape}")
    g, d = players(shape)
    generator = functools.partial(conditional.LabelledGenerator, g, classes, z_dim)
    if conditioning == "concat":
        _, d_wide = players((*shape[:-1], shape[-1] + 1))
        return generator, functools.partial(conditional.ConcatDiscriminator, d_wide, classes, shape)
    if conditioning == "projection":
        return generator, functools.partial(conditional.ProjectionDiscriminator, d, classes)
    return generator, functools.partial(conditional.ACGANDiscriminator, d, classes)


__all__ = ["autoencoder", "conditional", "dcgan", "mlp", "mlp_players", "dcgan_players", "conditional_players",
           "CONDITIONING"]
