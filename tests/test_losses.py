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


LOGITS = np.array([1.5, -0.5, 0.0, 3.0])


def _sp(x):  # softplus in float64
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("name, d_real, d_fake, g", [
    ("minimax", _sp(-LOGITS).mean(), _sp(LOGITS).mean(), -_sp(LOGITS).mean()),
    ("non_saturating", _sp(-LOGITS).mean(), _sp(LOGITS).mean(), _sp(-LOGITS).mean()),
    # (1.5-1)^2, (-1.5)^2, 1, 4 -> mean 1.875, halved; l^2: 2.25, .25, 0, 9 -> 2.875, halved
    ("least_squares", 0.9375, 1.4375, 0.9375),
    # relu(1-l): 0, 1.5, 1, 0 -> 0.625; relu(1+l): 2.5, 0.5, 1, 4 -> 2.0; -mean l = -1.0
    ("hinge", 0.625, 2.0, -1.0),
    ("wasserstein", -1.0, 1.0, -1.0),
])
def test_game_losses_match_hand_computed_values(name, d_real, d_fake, g):
    game = losses.GAME_LOSSES[name]
    logits = jnp.asarray(LOGITS, jnp.float32)
    assert float(jax.jit(game.d_real)(logits)) == pytest.approx(d_real, rel=1e-6)
    assert float(jax.jit(game.d_fake)(logits)) == pytest.approx(d_fake, rel=1e-6)
    assert float(jax.jit(game.g)(logits)) == pytest.approx(g, rel=1e-6)


def test_one_sided_label_smoothing_moves_only_the_real_target():
    logits = jnp.asarray(LOGITS, jnp.float32)
    # BCE against 0.9: 0.9 softplus(-l) + 0.1 softplus(l)
    want = (0.9 * _sp(-LOGITS) + 0.1 * _sp(LOGITS)).mean()
    assert float(jax.jit(losses.d_loss_real)(logits, 0.1)) == pytest.approx(want, rel=1e-6)
    # least squares against 0.9: (0.6^2 + 1.4^2 + 0.9^2 + 2.1^2) / 4 / 2
    got = float(jax.jit(losses.d_loss_real_least_squares)(logits, 0.1))
    assert got == pytest.approx((0.36 + 1.96 + 0.81 + 4.41) / 8, rel=1e-6)


def _linear_d(w):
    return lambda x: x.reshape(x.shape[0], -1) @ w


def test_gradient_penalty_of_a_linear_critic_is_known():
    """D(x) = w.x has input gradient w everywhere: the penalty is (|w| - 1)^2 whatever the interpolates."""
    w = jnp.asarray([3.0, 0.0, 4.0, 0.0])  # |w| = 5 -> (5 - 1)^2 = 16
    x_real, x_fake = jnp.ones((6, 2, 2)), -jnp.ones((6, 2, 2))
    gp = jax.jit(losses.gradient_penalty, static_argnums=(0, 4))(_linear_d(w), x_real, x_fake, jax.random.key(0))
    assert float(gp) == pytest.approx(16.0, rel=1e-5)
    unit = w / 5.0
    assert float(losses.gradient_penalty(_linear_d(unit), x_real, x_fake, jax.random.key(0))) == pytest.approx(0.0, abs=1e-5)


def test_gradient_penalty_norms_depend_on_the_interpolation_point():
    """D(x) = |x|^2 / 2 has gradient x: with x_real = a, x_fake = 0 the norm is u |a|, u the draw."""
    d = lambda x: 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=1)  # noqa: E731
    a = jnp.full((5, 4), 2.0)  # |a| = 4
    key = jax.random.key(3)
    u = np.asarray(jax.random.uniform(key, (5, 1), jnp.float32))[:, 0]
    got = losses.gradient_penalty(d, a, jnp.zeros_like(a), key)
    assert float(got) == pytest.approx(np.mean((4 * u - 1) ** 2), rel=1e-5)


def test_packed_gradient_penalty_takes_the_norm_over_each_packed_input():
    """With pack=2, D sees pairs: D(x) = w.concat(x_1, x_2), gradient w per pair -> (|w| - 1)^2."""
    w = jnp.asarray([1.0, 2.0, 2.0, 0.0])  # |w| = 3 over the pair of 2-d samples
    d = lambda x: x.reshape(x.shape[0] // 2, -1) @ w  # noqa: E731
    x = jnp.ones((8, 2))
    assert float(losses.gradient_penalty(d, x, -x, jax.random.key(0), 2)) == pytest.approx(4.0, rel=1e-5)


def test_r1_penalty_is_half_the_mean_squared_input_gradient():
    w = jnp.asarray([1.0, 2.0, 2.0, 0.0])  # |w|^2 = 9
    assert float(jax.jit(losses.r1_penalty, static_argnums=0)(_linear_d(w), jnp.ones((3, 4)))) == pytest.approx(4.5)
    d = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=1)  # noqa: E731  gradient x
    x = jnp.asarray([[1.0, 0.0], [0.0, 3.0]])  # |x|^2 = 1, 9 -> mean 5, halved 2.5
    assert float(losses.r1_penalty(d, x)) == pytest.approx(2.5)


def test_accuracy_uses_the_losss_threshold():
    out = jnp.array([0.9, 0.6, 0.4, 0.1])
    assert float(losses.accuracy(out, 1.0, 0.5)) == 0.5
    assert float(losses.accuracy(out, 1.0, 0.0)) == 1.0
