"""Flax NNX players, looked up by `model.name`; each entry builds (generator, discriminator)."""

from __future__ import annotations

from flax import nnx

from gan_jax.models import mlp


def _mlp(cfg, img_shape, rngs):
    return (
        mlp.Generator(cfg.z_dim, img_shape, cfg.hidden, cfg.leak, rngs=rngs),
        mlp.Discriminator(img_shape, cfg.hidden, cfg.leak, rngs=rngs),
    )


ARCHITECTURES = {"mlp": _mlp}


def build(cfg, img_shape: tuple[int, int, int], seed: int) -> tuple[nnx.Module, nnx.Module]:
    """The generator and discriminator for `cfg` (a ModelConfig), initialised from `seed`."""
    return ARCHITECTURES[cfg.name](cfg, tuple(img_shape), nnx.Rngs(seed))
