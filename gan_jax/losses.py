"""Pure GAN losses, computed from D's raw output ("logit"), and the penalties on D's input gradient.

The family (`GAME_LOSSES[name]`: D's loss on a real batch, on a fake batch, and G's loss):

    minimax          D: BCE(l_r, 1) + BCE(l_f, 0)          G: -BCE(l_f, 0) = mean log(1 - D(G(z)))
    non_saturating   D: as minimax                          G: BCE(l_f, 1) = -mean log D(G(z))  (the book)
    least_squares    D: 1/2 (l_r - 1)^2 + 1/2 l_f^2         G: 1/2 (l_f - 1)^2                  (LSGAN)
    hinge            D: relu(1 - l_r) + relu(1 + l_f)       G: -l_f
    wasserstein      D: -l_r + l_f                          G: -l_f                             (WGAN)

(each a mean over the batch). Binary cross-entropy with label y on logit l is

    BCE(l, y) = -[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))] = y softplus(-l) + (1 - y) softplus(l)

which is exact for any finite logit (no clipping, unlike BCE on probabilities). One-sided label
smoothing s replaces the real target 1 by 1 - s (cross-entropy and least squares only).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of `logits` against a constant `label` (1 = real, 0 = fake).

    >>> float(bce_with_logits(jnp.zeros(4), 1.0))  # sigmoid(0) = 0.5 -> log 2
    0.6931471...
    """
    return jnp.mean(label * jax.nn.softplus(-logits) + (1.0 - label) * jax.nn.softplus(logits))


def d_loss_real(real_logits: jax.Array, smoothing: float = 0.0) -> jax.Array:
    """D's loss on a real batch: BCE against "real" (1, or 1 - smoothing)."""
    return bce_with_logits(real_logits, 1.0 - smoothing)


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


def d_loss_real_least_squares(real_logits: jax.Array, smoothing: float = 0.0) -> jax.Array:
    return 0.5 * jnp.mean(jnp.square(real_logits - (1.0 - smoothing)))


def d_loss_fake_least_squares(fake_logits: jax.Array) -> jax.Array:
    return 0.5 * jnp.mean(jnp.square(fake_logits))


def g_loss_least_squares(fake_logits: jax.Array) -> jax.Array:
    return 0.5 * jnp.mean(jnp.square(fake_logits - 1.0))


def d_loss_real_hinge(real_logits: jax.Array, smoothing: float = 0.0) -> jax.Array:
    del smoothing  # not defined for the hinge loss (the config refuses it)
    return jnp.mean(jax.nn.relu(1.0 - real_logits))


def d_loss_fake_hinge(fake_logits: jax.Array) -> jax.Array:
    return jnp.mean(jax.nn.relu(1.0 + fake_logits))


def d_loss_real_wasserstein(real_logits: jax.Array, smoothing: float = 0.0) -> jax.Array:
    del smoothing
    return -jnp.mean(real_logits)


def d_loss_fake_wasserstein(fake_logits: jax.Array) -> jax.Array:
    return jnp.mean(fake_logits)


def g_loss_mean_logit(fake_logits: jax.Array) -> jax.Array:
    """G's loss for hinge and Wasserstein games: -mean D(G(z))."""
    return -jnp.mean(fake_logits)


class GameLoss(NamedTuple):
    """One member of the family. `threshold`: D's output above it means "real" (None: D is a critic
    with no decision, as in WGAN)."""

    d_real: Callable[..., jax.Array]  # (real_logits, smoothing) -> loss
    d_fake: Callable[[jax.Array], jax.Array]
    g: Callable[[jax.Array], jax.Array]
    threshold: float | None


GAME_LOSSES = {
    "minimax": GameLoss(d_loss_real, d_loss_fake, g_loss_minimax, 0.0),
    "non_saturating": GameLoss(d_loss_real, d_loss_fake, g_loss_non_saturating, 0.0),
    "least_squares": GameLoss(d_loss_real_least_squares, d_loss_fake_least_squares, g_loss_least_squares, 0.5),
    "hinge": GameLoss(d_loss_real_hinge, d_loss_fake_hinge, g_loss_mean_logit, 0.0),
    "wasserstein": GameLoss(d_loss_real_wasserstein, d_loss_fake_wasserstein, g_loss_mean_logit, None),
}


def _input_grad_norms_sq(d_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """|dD/dx|^2 for each of D's outputs (each D input: `pack` samples when packed).

    D's outputs for different inputs are independent (without batch statistics), so the gradient of
    their sum holds each output's own input gradient."""
    logits, vjp = jax.vjp(d_fn, x)
    (g,) = vjp(jnp.ones_like(logits))
    return jnp.sum(jnp.square(g.reshape(logits.shape[0], -1)), axis=1)


def r1_penalty(d_fn: Callable[[jax.Array], jax.Array], x_real: jax.Array) -> jax.Array:
    """R1 (Mescheder et al. 2018) without its weight: 1/2 mean |grad_x D(x_real)|^2."""
    return 0.5 * jnp.mean(_input_grad_norms_sq(d_fn, x_real))


def gradient_penalty(d_fn: Callable[[jax.Array], jax.Array], x_real: jax.Array, x_fake: jax.Array,
                     key: jax.Array, pack: int = 1) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017) without its weight: mean (|grad D(x_hat)| - 1)^2 at x_hat =
    u x_real + (1 - u) x_fake, u ~ U(0, 1) drawn from `key` once per D input (`pack` samples)."""
    n = x_real.shape[0] // pack
    u = jax.random.uniform(key, (n,) + (1,) * (x_real.ndim - 1), x_real.dtype)
    u = jnp.repeat(u, pack, axis=0)
    x_hat = u * x_real + (1.0 - u) * x_fake
    norms = jnp.sqrt(_input_grad_norms_sq(d_fn, x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def accuracy(logits: jax.Array, label: float, threshold: float = 0.0) -> jax.Array:
    """Fraction of D's outputs on the side of `label` (1 real, 0 fake) of `threshold` (logit 0 is
    probability 0.5)."""
    predicted_real = logits > threshold
    return jnp.mean(predicted_real if label == 1.0 else ~predicted_real)
