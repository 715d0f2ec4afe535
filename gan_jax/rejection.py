"""Discriminator rejection sampling (DRS; Azadi et al., ICLR 2019): G's samples filtered by D.

If D were optimal, its logit would be D~(x) = log p_data(x) / p_g(x), and accepting a sample of G with
probability exp(D~(x) - M) (M the largest logit) would give exact samples of p_data. DRS makes this
practical: M is the largest logit seen so far (a burn-in, then every batch), and a sample is accepted
with probability sigmoid(F(x) - gamma), where

    F(x) = D~(x) - M - log(1 - exp(D~(x) - M - eps))

and gamma is a percentile of F over the burn-in (the paper's 95th): raising gamma rejects more.
Samples D finds unlike the data (for a Gaussian mixture: those between the modes) are dropped. This is a
different sampler, not a better G: the report names it beside the plain samples.
"""

from __future__ import annotations

import jax
import numpy as np

from gan_jax import xla

EPS = 1e-6


def shifted_logits(logits: np.ndarray, m: float) -> np.ndarray:
    """F(x) of the module docstring, from D's logits and the running maximum.

    Args:
      logits: D's logits. m: the largest logit seen so far.

    Returns:
      F = D~ - m - log(1 - exp(D~ - m - eps)), float64.

    >>> float(shifted_logits(np.array([-50.0]), 0.0)[0])
    -50.0
    """
    d = np.asarray(logits, np.float64) - m
    return d - np.log1p(-np.exp(d - EPS))


def accept_probability(logits: np.ndarray, m: float, gamma: float) -> np.ndarray:
    """sigmoid(F(x) - gamma): the chance that DRS keeps a sample.

    Args:
      logits: D's logits. m: the running maximum. gamma: the threshold (a percentile of F).

    Returns:
      Probabilities, float64.

    >>> float(accept_probability(np.array([0.0]), 0.0, float(shifted_logits(np.array([0.0]), 0.0)[0]))[0])
    0.5
    """
    return 1.0 / (1.0 + np.exp(-(shifted_logits(logits, m) - gamma)))


def sample(gan, state, key: jax.Array, n: int, burn_in: int = 10_000, percentile: float = 95.0,
           batch: int = 10_000, max_draws: int = 10_000_000) -> tuple[np.ndarray, float]:
    """`n` samples of G accepted by D (discriminator rejection sampling).

    Args:
      gan: a GAN (D judging single samples: pack 1). state: its GANState. key: the draws.
      n: how many to keep. burn_in: draws that set the maximum logit and gamma. percentile: gamma's.
      batch: draws per round. max_draws: give up after this many.

    Returns:
      (n kept samples, the share of G's draws accepted).

    >>> # x, rate = rejection.sample(gan, state, jax.random.key(0), 2500)
    """
    if gan.settings.pack != 1:
        raise ValueError(f"rejection sampling needs D to judge single samples; this GAN packs {gan.settings.pack}")

    judge, generate = xla.jit(gan.discriminate), xla.jit(gan.sample)

    def draw(k, size):
        x = generate(state, gan.noise(k, size))
        return np.asarray(x), np.asarray(judge(state.d_params, state.d_rest, x), np.float64).reshape(-1)

    k_burn, k_draw, k_accept = jax.random.split(key, 3)
    _, burn_logits = draw(k_burn, burn_in)
    m = float(burn_logits.max())
    gamma = float(np.percentile(shifted_logits(burn_logits, m), percentile))
    kept, accepted, drawn, i = [], 0, 0, 0
    while accepted < n:
        if drawn >= max_draws:
            raise RuntimeError(f"rejection sampling accepted only {accepted} of {drawn} draws")
        x, logits = draw(jax.random.fold_in(k_draw, i), batch)
        m = max(m, float(logits.max()))
        u = np.asarray(jax.random.uniform(jax.random.fold_in(k_accept, i), (batch,)), np.float64)
        kept.append(x[u < accept_probability(logits, m, gamma)])
        accepted, drawn, i = accepted + len(kept[-1]), drawn + batch, i + 1
    return np.concatenate(kept)[:n], accepted / drawn

