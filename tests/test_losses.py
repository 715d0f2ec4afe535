import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses


@pytest.mark.parametrize("logit, label, expected", [
    (0.0, 1.0, math.log(2)),
    (0.0, 0.0, math.log(2)),
    (2.0, 1.0, -math.log(1 / (1 + math.exp(-2.0)))),  # -log sigmoid(2) = 0.126928
    (2.0, 0.0, -math.log(1 - 1 / (1 + math.exp(-2.0)))),  # 2.126928
    (-3.0, 0.0, 0.048587351573742),
    (100.0, 0.0, 100.0),  # exact far from 0, where BCE on probabilities would clip
    (-100.0, 1.0, 100.0),
])
def test_bce_matches_hand_computed_values(logit, label, expected):
    got = jax.jit(losses.bce_with_logits, static_argnums=1)(jnp.full((3,), logit), label)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_players_losses_use_the_right_labels():
    logits = jnp.array([1.5, -0.5, 0.0, 3.0])
    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    assert float(jax.jit(losses.d_loss_real)(logits)) == pytest.approx(-np.log(p).mean(), rel=1e-6)
    assert float(jax.jit(losses.d_loss_fake)(logits)) == pytest.approx(-np.log(1 - p).mean(), rel=1e-6)
    assert float(jax.jit(losses.g_loss_non_saturating)(logits)) == pytest.approx(-np.log(p).mean(), rel=1e-6)


def test_accuracy_thresholds_at_probability_one_half():
    logits = jnp.array([2.0, 0.5, -1.0, 0.0])  # "real" predictions: True, True, False, False
    assert float(losses.accuracy(logits, 1.0)) == 0.5
    assert float(losses.accuracy(logits, 0.0)) == 0.5
    assert float(losses.accuracy(jnp.array([-1.0, -2.0, 3.0]), 0.0)) == pytest.approx(2 / 3)
