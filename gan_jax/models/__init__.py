"""Flax NNX players, looked up by `model.name`; each entry builds (generator, discriminator)."""

from __future__ import annotations

from flax import nnx

from gan_jax.models import dcgan, mlp


def _mlp(cfg, sample_shape, pack, rngs):
    return (
        mlp.Generator(cfg.z_dim, sample_shape, cfg.hidden, cfg.layers, cfg.leak, cfg.output, rngs=rngs),
        mlp.Discriminator(sample_shape, cfg.d_hidden, cfg.d_layers, cfg.leak, pack, rngs=rngs),
    )


def _dcgan(cfg, sample_shape, pack, rngs):
    if len(sample_shape) != 3 or sample_shape[0] % 4 or sample_shape[1] % 4:
        from gan_jax.config import ConfigError  # config imports this package to validate model.name

        raise ConfigError(f"model.name=dcgan needs H x W x C images with H and W divisible by 4, got {sample_shape}")
    return (
        dcgan.Generator(cfg.z_dim, sample_shape, cfg.leak, rngs=rngs),
        dcgan.Discriminator(sample_shape, cfg.leak, cfg.d_norm, pack, rngs=rngs),
    )


ARCHITECTURES = {"mlp": _mlp, "dcgan": _dcgan}
OUTPUTS = tuple(mlp.OUTPUTS)


def build(cfg, sample_shape: tuple[int, ...], seed: int, pack: int = 1) -> tuple[nnx.Module, nnx.Module]:
    """The generator and discriminator for `cfg` (a ModelConfig), initialised from `seed`; D reads
    `pack` samples at once."""
    return ARCHITECTURES[cfg.name](cfg, tuple(sample_shape), pack, nnx.Rngs(seed))
