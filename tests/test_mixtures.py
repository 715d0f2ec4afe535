"""Gaussian mixtures, the PacGAN protocol's scores, packing and the minimax loss."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import build, runs
from conftest import tiny_config
from gan_jax import data, losses, mixtures
from gan_jax.config import apply_overrides


def test_mixtures_match_the_protocol():
    ring = mixtures.MIXTURES["ring8"]
    assert ring.means.shape == (8, 2) and ring.std == 0.01
    assert len({tuple(np.round(m, 6)) for m in ring.means}) == 8  # endpoint=False: no duplicated mode
    np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0)
    grid = mixtures.MIXTURES["grid25"]
    assert grid.means.shape == (25, 2) and grid.std == 0.05 and set(grid.means[:, 0]) == {-4, -2, 0, 2, 4}
    x, modes = mixtures.sample(ring, 20_000, np.random.default_rng(0))
    assert x.shape == (20_000, 2) and x.dtype == np.float32
    assert np.abs(np.bincount(modes) / 20_000 - 1 / 8).max() < 0.01
    assert np.std(x - ring.means[modes]) == pytest.approx(0.01, rel=0.03)


def test_scores_by_hand():
    ring = mixtures.MIXTURES["ring8"]
    # all mass on two modes, one sample per mode just inside 3 std, one far off
    pts = np.array([ring.means[0], ring.means[0] + [0.029, 0], ring.means[3], [0.0, 0.0]])
    s = mixtures.scores(pts, ring)
    assert s["modes"] == 2 and s["of_modes"] == 8 and s["high_quality"] == 0.75
    q = np.array([2 / 3, 1 / 3])
    assert s["reverse_kl"] == pytest.approx(float(np.sum(q * np.log(q * 8))))
    perfect = mixtures.scores(mixtures.sample(ring, 2500, np.random.default_rng(1))[0], ring)
    # a perfect generator: in 2-D, P(|x - mean| <= 3 std) = 1 - exp(-9/2) = 98.9%
    assert perfect["modes"] == 8 and perfect["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert perfect["reverse_kl"] < 0.01
    collapsed = mixtures.scores(np.tile(ring.means[:1], (100, 1)), ring)
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(8))
    assert mixtures.scores(np.zeros((5, 2)), ring)["reverse_kl"] == float("inf")


def test_mixture_data_source():
    ds = data.load(apply_overrides(tiny_config(), ["data.source=grid25", "data.limit=1000"]).data)
    assert ds.images.shape == (1000, 2) and ds.kind == "grid25" and ds.labels.max() < 25
    test = data.load(apply_overrides(tiny_config(), ["data.source=grid25", "data.limit=1000", "data.split=test"]).data)
    assert not np.array_equal(ds.images, test.images)


def test_minimax_loss_by_hand():
    logits = jnp.array([0.0, 2.0])
    # mean log(1 - sigmoid(l)) = -mean softplus(l)
    expected = -np.mean([math.log(2), math.log(1 + math.exp(2.0))])
    assert float(jax.jit(losses.minimax.g)(logits)) == pytest.approx(expected, rel=1e-6)


def test_packing_feeds_d_pack_samples_per_input():
    cfg = apply_overrides(tiny_config(), ["gan.pack=3", "model.output=linear", "data.source=ring8"])
    gan = build.engine(cfg, (2,))
    state = gan.init(0)
    x = jnp.arange(24, dtype=jnp.float32).reshape(12, 2)
    logits = gan.discriminate(state.d_params, state.d_rest, x)
    assert logits.shape == (4,)
    # the first input row is samples 0, 1, 2 concatenated: permuting rows within a pack changes the logit
    swapped = x.at[jnp.array([0, 3])].set(x[jnp.array([3, 0])])
    assert float(gan.discriminate(state.d_params, state.d_rest, swapped)[1]) != float(logits[1])
    assert gan.samples_per_batch == 24  # batch 8 D inputs x 3 samples
    new, m = jax.jit(gan.train_step)(state, jnp.asarray(np.random.default_rng(0).normal(size=(100, 2)), jnp.float32))
    assert int(new.step) == 1 and np.isfinite(float(m["g_loss"]))


def test_a_mixture_run_writes_scatter_and_scores(tmp_path):
    cfg = apply_overrides(tiny_config(), ["data.source=ring8", "data.limit=500", "model.output=linear", "model.z_dim=2",
                                          "gan.pack=2"])
    out = runs.start(cfg, tmp_path / "r", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "r" / "scores.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8] and rows[0]["of_modes"] == 8
    assert out.last_grid.name == "step_000008.png" and out.last_grid.stat().st_size > 1000
