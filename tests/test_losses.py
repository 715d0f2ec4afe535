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
    ns = losses.non_saturating
    assert float(jax.jit(ns.real_term)(logits)) == pytest.approx(-np.log(p).mean(), rel=1e-6)
    assert float(jax.jit(ns.d_fake)(logits)) == pytest.approx(-np.log(1 - p).mean(), rel=1e-6)
    assert float(jax.jit(ns.g)(logits)) == pytest.approx(-np.log(p).mean(), rel=1e-6)


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
    game = losses.BUILT_IN[name]
    logits = jnp.asarray(LOGITS, jnp.float32)
    assert float(jax.jit(game.real_term)(logits)) == pytest.approx(d_real, rel=1e-6)
    assert float(jax.jit(game.d_fake)(logits)) == pytest.approx(d_fake, rel=1e-6)
    assert float(jax.jit(game.g)(logits)) == pytest.approx(g, rel=1e-6)


def test_one_sided_label_smoothing_moves_only_the_real_target():
    logits = jnp.asarray(LOGITS, jnp.float32)
    # BCE against 0.9: 0.9 softplus(-l) + 0.1 softplus(l)
    want = (0.9 * _sp(-LOGITS) + 0.1 * _sp(LOGITS)).mean()
    smoothed = losses.non_saturating.smoothed(0.1)
    assert float(jax.jit(smoothed.real_term)(logits)) == pytest.approx(want, rel=1e-6)
    # the fake term and G's loss do not move
    assert float(smoothed.d_fake(logits)) == float(losses.non_saturating.d_fake(logits))
    assert float(smoothed.g(logits)) == float(losses.non_saturating.g(logits))
    # least squares against 0.9: (0.6^2 + 1.4^2 + 0.9^2 + 2.1^2) / 4 / 2
    got = float(jax.jit(losses.least_squares.smoothed(0.1).real_term)(logits))
    assert got == pytest.approx((0.36 + 1.96 + 0.81 + 4.41) / 8, rel=1e-6)
    with pytest.raises(ValueError, match="not hinge"):
        losses.hinge.smoothed(0.1)  # no real target to smooth


def test_a_split_loss_called_as_a_loss_sums_its_d_terms():
    real, fake = jnp.asarray([2.0, 0.0]), jnp.asarray([-2.0, 0.5])
    d, g = losses.hinge(real, fake)
    # relu(1 - l_r): 0, 1 -> 0.5; relu(1 + l_f): 0, 1.5 -> 0.75; G: -mean l_f = 0.75
    assert (float(d), float(g)) == (1.25, 0.75)


# real logits r = (2, 0, -1), fake f = (1, -1, 0), paired
R, F = np.array([2.0, 0.0, -1.0]), np.array([1.0, -1.0, 0.0])


def test_rpgan_matches_a_hand_computation():
    # r - f = (1, 1, -1): D softplus(-(r - f)) = (sp(-1), sp(-1), sp(1)); G softplus(r - f) = (sp(1), sp(1), sp(-1))
    sp1, spm1 = math.log1p(math.e), math.log1p(1 / math.e)  # 1.31326, 0.31326
    d, g = jax.jit(losses.rpgan)(jnp.asarray(R), jnp.asarray(F))
    assert float(d) == pytest.approx((2 * spm1 + sp1) / 3, rel=1e-6)
    assert float(g) == pytest.approx((2 * sp1 + spm1) / 3, rel=1e-6)
    # relativistic: shifting every logit by the same amount changes nothing
    d2, g2 = losses.rpgan(jnp.asarray(R) + 5.0, jnp.asarray(F) + 5.0)
    assert (float(d2), float(g2)) == pytest.approx((float(d), float(g)), rel=1e-6)


def test_relativistic_average_matches_a_hand_computation():
    # mean r = 1/3, mean f = 0: D = BCE(r - 0, 1) + BCE(f - 1/3, 0); G = BCE(f - 1/3, 1) + BCE(r - 0, 0)
    real_rel, fake_rel = R - F.mean(), F - R.mean()
    want_d = _sp(-real_rel).mean() + _sp(fake_rel).mean()
    want_g = _sp(-fake_rel).mean() + _sp(real_rel).mean()
    d, g = jax.jit(losses.relativistic_average)(jnp.asarray(R), jnp.asarray(F))
    assert float(d) == pytest.approx(want_d, rel=1e-6) and float(g) == pytest.approx(want_g, rel=1e-6)
    # by hand: r - 0 = (2, 0, -1) -> softplus(-2, 0, 1) = (0.12693, 0.69315, 1.31326), mean 0.71111;
    # f - 1/3 = (2/3, -4/3, -1/3) -> softplus = (1.07770, 0.23620, 0.54140), mean 0.61843
    assert float(d) == pytest.approx(0.71111 + 0.61843, abs=1e-4)
    assert not isinstance(losses.relativistic_average, losses.SplitLoss)  # it compares the batches


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
