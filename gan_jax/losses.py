"""Pure GAN losses, computed from D's logits (the probability of "real" is sigmoid(logit)).

Binary cross-entropy with label y in {0, 1} on logit l:

    BCE(l, y) = -[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))] = y softplus(-l) + (1 - y) softplus(l)

which is exact for any finite logit (no clipping, unlike BCE on probabilities).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of `logits` against a constant `label` (1 = real, 0 = fake).

    >>> float(bce_with_logits(jnp.zeros(4), 1.0))  # sigmoid(0) = 0.5 -> log 2
    0.6931471...
    """
    return jnp.mean(label * jax.nn.softplus(-logits) + (1.0 - label) * jax.nn.softplus(logits))


def d_loss_real(real_logits: jax.Array) -> jax.Array:
    """D's loss on a real batch: BCE against "real" (1)."""
    return bce_with_logits(real_logits, 1.0)


def d_loss_fake(fake_logits: jax.Array) -> jax.Array:
    """D's loss on a fake batch: BCE against "fake" (0)."""
    return bce_with_logits(fake_logits, 0.0)


def g_loss_non_saturating(fake_logits: jax.Array) -> jax.Array:
    """G's non-saturating loss: the fakes labelled "real", -mean log D(G(z)) (the book's recipe)."""
    return bce_with_logits(fake_logits, 1.0)


def g_loss_minimax(fake_logits: jax.Array) -> jax.Array:
    """G's saturating loss from the original minimax game: mean log(1 - D(G(z))) = -BCE(l, 0).

    Its gradient vanishes when D confidently rejects the fakes, which is why the book uses the
    non-saturating loss instead.
    """
    return -bce_with_logits(fake_logits, 0.0)


G_LOSSES = {"non_saturating": g_loss_non_saturating, "minimax": g_loss_minimax}


def accuracy(logits: jax.Array, label: float) -> jax.Array:
    """Fraction of logits on the side of `label` (threshold probability 0.5, i.e. logit 0)."""
    predicted_real = logits > 0
    return jnp.mean(predicted_real if label == 1.0 else ~predicted_real)
