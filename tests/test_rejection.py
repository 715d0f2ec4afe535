"""Discriminator rejection sampling: the acceptance rule on hand values, and a D that knows the data."""

import collections
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import rejection


def test_acceptance_rule_on_hand_values():
    # F = d - log(1 - exp(d - eps)), d = logit - M: at the maximum, F = -log(1 - exp(-1e-6)) ~ 13.8155
    f = rejection.shifted_logits(np.array([2.0, 0.0, -3.0]), m=2.0)
    np.testing.assert_allclose(f, [-np.log1p(-np.exp(-1e-6)), -2 - np.log1p(-np.exp(-2 - 1e-6)),
                                   -5 - np.log1p(-np.exp(-5 - 1e-6))], rtol=1e-9)
    p = rejection.accept_probability(np.array([2.0, -3.0]), m=2.0, gamma=float(f[0]))
    assert p[0] == pytest.approx(0.5) and p[1] == pytest.approx(1 / (1 + np.exp(f[0] - f[2])))


def _fake_gan(pack: int = 1):
    """G(z) = z, z ~ U(-1, 1); D's logit is 0 where x > 0 (the data) and -20 elsewhere."""
    return types.SimpleNamespace(
        settings=types.SimpleNamespace(pack=pack),
        noise=lambda key, n: jax.random.uniform(key, (n, 1), minval=-1.0, maxval=1.0),
        sample=lambda state, z: z,
        discriminate=lambda params, rest, x: jnp.where(x[:, 0] > 0, 0.0, -20.0),
    )


def test_rejection_keeps_only_what_d_calls_real_at_the_expected_rate():
    state = collections.namedtuple("State", "d_params d_rest")(None, None)  # a pytree, as jit needs
    x, rate = rejection.sample(_fake_gan(), state, jax.random.key(0), 5_000, burn_in=2_000, batch=4_000)
    assert x.shape == (5_000, 1) and np.all(x > 0)
    # half the draws are "real" and gamma (95th percentile of F) is F at the maximum: each is kept w.p. 1/2
    assert rate == pytest.approx(0.25, abs=0.02)
    assert abs(float(np.mean(x)) - 0.5) < 0.02  # uniform on (0, 1) still: D's verdict is flat there


def test_packed_discriminators_are_refused():
    with pytest.raises(ValueError, match="judge single samples"):
        rejection.sample(_fake_gan(pack=2), None, jax.random.key(0), 10)
