"""Conditional players (book chapter 8 and two variants), wrapping any of the book's G and D.

  LabelledGenerator        G(z, y): z times a learned embedding of y (the book's CGAN), then the base G;
                           returns (images, y)
  ConcatDiscriminator      D(x, y): a learned H x W map of y joined to the image as one more channel (the
                           book's CGAN), then the base D (built for C + 1 channels)
  ProjectionDiscriminator  D(x, y) = head(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama 2018), phi the
                           base D's features
  ACGANDiscriminator       D(x, y) -> (logit, class logits, y): an auxiliary classifier on phi(x) (Odena
                           et al. 2017); `gan_jax.losses.acgan` adds its cross-entropy to both players
  SemiSupervisedDiscriminator  D as a K-class classifier (book chapter 7; Salimans et al. 2016): the
                           real/fake logit is the logsumexp of its class logits;
                           `gan_jax.losses.SemiSupervisedLoss` trains it

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


class SemiSupervisedDiscriminator(nnx.Module):
    """D as a `classes`-way classifier whose real/fake logit is logsumexp of its class logits (Salimans et al.
    2016: D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp l_k(x), so the logit of D(x) is log Z(x)).

    Called on a fake batch x it returns (logsumexp l(x), phi(x)); on a real batch of a semi-supervised
    dataset, `(x, (x_l, y_l))` (an unlabelled and a labelled batch, `gan_jax.sampling.Parts`), it returns
    (logsumexp l(x), l(x_l), y_l, phi(x)): the features phi serve feature matching. Both batches go through
    the base in one pass. `classify(x)` gives the class logits (the classifier a semi-supervised GAN trains).

    Args:
      base: factory of an unconditional D with `features`, `feature_dim`. classes: how many classes.
      head: factory `(feature_dim, classes, rngs=) -> module` called as `head(features, train)` for the class
        logits (Salimans et al.'s has noise and weight norm); default a plain `nnx.Linear`.

    >>> import functools
    >>> from gan_jax.models import mlp
    >>> d = SemiSupervisedDiscriminator(functools.partial(mlp.Discriminator, (4,), 8, 1, 0.2), 3, rngs=nnx.Rngs(0))
    >>> logit, feats = d(jnp.zeros((2, 4)))
    >>> logit.shape, feats.shape, d.classify(jnp.zeros((2, 4))).shape
    ((2,), (2, 8), (2, 3))
    """

    def __init__(self, base, classes: int, head=None, *, rngs: nnx.Rngs):
        if classes < 2:
            raise ValueError(f"classes: a semi-supervised D needs at least 2, got {classes}")
        self.base = base(rngs=rngs)
        self.classes = classes
        self.own_head = head is not None
        self.to_classes = (head or nnx.Linear)(self.base.feature_dim, classes, rngs=rngs)

    def _logits(self, h: jax.Array, train: bool) -> jax.Array:
        return self.to_classes(h, train) if self.own_head else self.to_classes(h)

    def classify(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits of a batch of images.

        Args:
          x: B images. train: the base's train flag.

        Returns:
          B x classes logits.

        >>> # logits = d.classify(test_images)
        """
        return self._logits(self.base.features(x, train), train)

    def __call__(self, sample, train: bool = False):
        if not isinstance(sample, tuple):
            h = self.base.features(sample, train)
            return jax.nn.logsumexp(self._logits(h, train), axis=-1), h
        x, (x_l, y_l) = sample
        h = self.base.features(jnp.concatenate([x, x_l.astype(x.dtype)]), train)
        logits = self._logits(h, train)
        b = x.shape[0]
        return jax.nn.logsumexp(logits[:b], axis=-1), logits[b:], y_l, h[:b]
