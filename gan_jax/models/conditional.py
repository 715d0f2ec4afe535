"""Conditional players (book chapter 8 and two variants), wrapping any of the book's G and D.

  LabelledGenerator        G(z, y): z times a learned embedding of y (the book's CGAN), then the base G;
                           returns (images, y)
  ConcatDiscriminator      D(x, y): a learned H x W map of y joined to the image as one more channel (the
                           book's CGAN), then the base D (built for C + 1 channels)
  ProjectionDiscriminator  D(x, y) = head(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama 2018), phi the
                           base D's features
  ACGANDiscriminator       D(x, y) -> (logit, class logits, y): an auxiliary classifier on phi(x) (Odena
                           et al. 2017); `gan_jax.losses.acgan` adds its cross-entropy to both players

A base is a factory `rngs -> module`; a base D must offer `features(x, train)`, `head(h)` and
`feature_dim` (the book's MLP and DCGAN discriminators do).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


class LabelledGenerator(nnx.Module):
    """(z, y) -> (G(z * embed(y)), y).

    Args:
      base: factory of the unconditional G (z_dim in). classes: labels. z_dim: the noise dimension.
    """

    def __init__(self, base, classes: int, z_dim: int, *, rngs: nnx.Rngs):
        self.base = base(rngs=rngs)
        self.embed = nnx.Embed(classes, z_dim, rngs=rngs)

    def __call__(self, noise, train: bool = False):
        z, y = noise
        return self.base(z * self.embed(y), train=train), y


class ConcatDiscriminator(nnx.Module):
    """(x, y) -> D([x, map(y)]): y's learned H x W map as an extra channel.

    Args:
      base: factory of the unconditional D for H x W x (C + 1) inputs. classes: labels.
      sample_shape: (H, W, C) of the images.
    """

    def __init__(self, base, classes: int, sample_shape: tuple[int, ...], *, rngs: nnx.Rngs):
        self.base = base(rngs=rngs)
        self.map_shape = (*tuple(sample_shape)[:-1], 1)
        self.embed = nnx.Embed(classes, math.prod(self.map_shape), rngs=rngs)

    def __call__(self, sample, train: bool = False) -> jax.Array:
        x, y = sample
        m = self.embed(y).reshape((x.shape[0], *self.map_shape)).astype(x.dtype)
        return self.base(jnp.concatenate([x, m], axis=-1), train=train)


class ProjectionDiscriminator(nnx.Module):
    """(x, y) -> head(phi(x)) + <embed(y), phi(x)>.

    Args:
      base: factory of an unconditional D with `features`, `head`, `feature_dim`. classes: labels.
    """

    def __init__(self, base, classes: int, *, rngs: nnx.Rngs):
        self.base = base(rngs=rngs)
        self.embed = nnx.Embed(classes, self.base.feature_dim, rngs=rngs)

    def __call__(self, sample, train: bool = False) -> jax.Array:
        x, y = sample
        h = self.base.features(x, train)
        return self.base.head(h) + jnp.sum(self.embed(y).astype(h.dtype) * h, axis=-1)


class ACGANDiscriminator(nnx.Module):
    """(x, y) -> (head(phi(x)), classes logits of phi(x), y).

    Args:
      base: factory of an unconditional D with `features`, `head`, `feature_dim`. classes: labels.
    """

    def __init__(self, base, classes: int, *, rngs: nnx.Rngs):
        self.base = base(rngs=rngs)
        self.classify = nnx.Linear(self.base.feature_dim, classes, rngs=rngs)

    def __call__(self, sample, train: bool = False):
        x, y = sample
        h = self.base.features(x, train)
        return self.base.head(h), self.classify(h), y


