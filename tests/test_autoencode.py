"""Autoencoders and VAEs: the bounds against hand computations, IWAE's ordering, the linear AE = PCA,
the input pipelines of the tasks, and a run end to end (figures, test ELBO, resume == uninterrupted)."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gan_jax import autoencode, build, data, run, rundir, runs
from gan_jax.gan import Streams
from gan_jax.config import AEConfig, Config, ConfigError, DataConfig, ModelConfig, OptimConfig, TrainConfig, apply_overrides
from test_gan import _equal


def _cfg(name="vae", z=2, hidden=16, layers=1, **ae) -> Config:
    return Config(
        experiment="mnist_vae",
        model=ModelConfig(name=name, z_dim=z, hidden=hidden, layers=layers),
        ae=AEConfig(**ae),
        data=DataConfig(source="embedded", limit=64, sampling="epoch"),
        train=TrainConfig(steps=8, batch_size=8, fuse=2, log_interval=2, sample_interval=4, checkpoint_interval=4),
    )


def _set_constant(params, mean, logvar, logits):
    """Zero every weight; the encoder's output bias = (mean, logvar) and the decoder's = logits, so the
    bound no longer depends on the sample: a case with a closed form."""
    params = jax.tree.map(jnp.zeros_like, params)
    params["encoder"]["out"]["bias"] = nnx.Param(jnp.asarray(np.r_[mean, logvar], jnp.float32))
    params["decoder"]["out"]["bias"] = nnx.Param(jnp.asarray(logits, jnp.float32))
    return params


def test_elbo_equals_a_hand_computed_value():
    gan = build.engine(_cfg(z=2), (2, 1, 1))  # two pixels
    params = gan.init(Streams.from_seeds(0, 0)).params
    mean, logvar, logits = [0.5, -1.0], [math.log(0.25), 0.0], [0.0, math.log(3.0)]
    params = _set_constant(params, mean, logvar, logits)
    t = jnp.array([[[[1.0]], [[0.25]]]])
    got = float(gan.bound(params, t, t, 1, jax.random.key(0))[0])
    # log p(t|z) = sum t*l - log(1 + e^l):  pixel 1: 1*0 - log 2; pixel 2: 0.25*log 3 - log 4
    log_px = -math.log(2) + 0.25 * math.log(3) - math.log(4)
    # KL = 1/2 sum(var + mean^2 - 1 - logvar): (0.25 + 0.25 - 1 - log 0.25) + (1 + 1 - 1 - 0)
    kl = 0.5 * ((0.25 + 0.25 - 1 - math.log(0.25)) + (1 + 1 - 1 - 0))
    assert got == pytest.approx(log_px - kl, abs=1e-5)
    # q = the prior: every importance weight is exactly p(t|z), so the k-sample bound is log p(t|z) for any k
    params = _set_constant(params, [0.0, 0.0], [0.0, 0.0], logits)
    for k in (1, 7):
        assert float(gan.bound(params, t, t, k, jax.random.key(1))[0]) == pytest.approx(log_px, abs=1e-5)


def test_closed_forms():
    assert float(autoencode.gaussian_kl(jnp.zeros(3), jnp.zeros(3))) == 0.0
    assert float(autoencode.gaussian_kl(jnp.array([2.0]), jnp.array([0.0]))) == pytest.approx(2.0)
    x = jnp.array([[0.0, 1.0]])
    expect = -0.5 * (0.25 + 0.0) / 0.25 - 2 * math.log(0.5) - math.log(2 * math.pi)  # sigma 0.5, means (0.5, 1)
    assert float(autoencode.log_likelihood(jnp.array([[0.5, 1.0]]), x, "gaussian", 0.5)[0]) == pytest.approx(expect)
    assert float(autoencode.log_normal(jnp.zeros(2), jnp.zeros(2), jnp.zeros(2))) == pytest.approx(-math.log(2 * math.pi))


def test_the_importance_weighted_bound_is_above_the_elbo_and_grows_with_k():
    gan = build.engine(_cfg(z=4, hidden=32), (28, 28, 1))
    params = gan.init(Streams.from_seeds(0, 0)).params
    x = (jax.random.uniform(jax.random.key(0), (16, 28, 28, 1)) > 0.7).astype(jnp.float32)
    means = [float(jnp.mean(jnp.stack([gan.bound(params, x, x, k, jax.random.key(s)) for s in range(4)])))
             for k in (1, 5, 50)]
    assert means[0] < means[1] < means[2], means


def test_a_linear_autoencoder_finds_the_principal_subspace():
    rng = np.random.default_rng(0)
    d, k, n = 12, 3, 4000
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.array([3.0, 2.5, 2.0] + [0.3] * (d - k))
    x = (rng.normal(size=(n, d)) * scales) @ basis.T + 1.5  # a known spectrum, off-centre
    cfg = Config(
        experiment="linear", model=ModelConfig(name="linear_ae", z_dim=k),
        ae=AEConfig(likelihood="gaussian", sigma=1.0), data=DataConfig(source="ring8"),
        optim=OptimConfig.both(lr=1e-2, decay="cosine"),
        train=TrainConfig(steps=3000, batch_size=200, fuse=100, log_interval=100, sample_interval=100, checkpoint_interval=100),
    )
    gan = build.engine(cfg, (d,))
    state = gan.init(Streams.from_seeds(0, 0))
    step = jax.jit(run.repeat(gan.train_step, 100))
    xs = jnp.asarray(x, jnp.float32)
    for _ in range(30):
        state, _ = step(state, xs)
    w = np.asarray(state.params["decoder"]["kernel"][...]).T  # d x k
    top = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][:k].T  # d x k, the top principal directions
    q, _ = np.linalg.qr(w)
    cosines = np.linalg.svd(q.T @ top, compute_uv=False)
    angles = np.degrees(np.arccos(np.clip(cosines, -1, 1)))
    assert angles.max() < 2.0, angles
    # and a random subspace is far from it: the test can fail
    rq, _ = np.linalg.qr(rng.normal(size=(d, k)))
    assert np.degrees(np.arccos(np.clip(np.linalg.svd(rq.T @ top, compute_uv=False), -1, 1))).max() > 20


def test_task_inputs():
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 3)), jnp.float32)
    key = jax.random.key(0)
    col = build.engine(_cfg(name="ae", task="colorize"), (8, 8, 3))
    x_in, t = col.prepare(x, key)
    assert x_in.shape == (64, 8, 8, 1) and t.shape == x.shape
    np.testing.assert_allclose(x_in[..., 0], 0.299 * t[..., 0] + 0.587 * t[..., 1] + 0.114 * t[..., 2], atol=1e-6)
    den = build.engine(_cfg(name="ae", task="denoise", noise="masking", noise_level=0.3), (8, 8, 3))
    x_in, t = den.prepare(x, key)
    dropped = np.mean(np.asarray(x_in) != np.asarray(t))
    assert 0.25 < dropped < 0.35 and np.all(np.asarray(x_in)[np.asarray(x_in) != np.asarray(t)] == 0)
    binar = build.engine(_cfg(binarize=True), (8, 8, 3))
    x_in, t = binar.prepare(x, key)
    assert set(np.unique(np.asarray(t))) <= {0.0, 1.0}
    assert abs(float(t.mean()) - float(((x + 1) / 2).mean())) < 0.02


def test_bad_autoencoder_configs_fail_clearly():
    with pytest.raises(ConfigError, match="ae.k=5: importance-weighted training needs model.name=vae"):
        build.engine(_cfg(name="ae", k=5), (28, 28, 1))
    with pytest.raises(ConfigError, match="likelihood=gaussian"):
        build.engine(_cfg(), (2,))
    with pytest.raises(ConfigError, match="data.colors=by_class"):
        build.engine(_cfg(task="colorize"), (28, 28, 1))
    with pytest.raises(ConfigError, match="binarize: needs likelihood=bernoulli"):
        apply_overrides(_cfg(), ["ae.binarize=true", "ae.likelihood=gaussian"])
    with pytest.raises(ConfigError, match="ae.activation: got 'gelu'"):
        build.check(apply_overrides(_cfg(), ["ae.activation=gelu"]))


def test_one_class_and_coloured_data():
    base = DataConfig(source="embedded")
    sevens = data.load(dataclasses.replace(base, digit=7))
    assert len(sevens.labels) > 300 and set(sevens.labels.tolist()) == {7}
    with pytest.raises(data.DataError, match="digit=12"):
        data.load(dataclasses.replace(base, digit=12))
    grey = data.load(dataclasses.replace(base, limit=20))
    colour = data.load(dataclasses.replace(base, limit=20, colors="by_class"))
    assert colour.images.shape == (20, 28, 28, 3)
    i = int(np.argmax(grey.images.reshape(20, -1).max(1)))
    p = np.unravel_index(np.argmax(grey.images[i, ..., 0]), (28, 28))  # the brightest pixel: full colour
    np.testing.assert_allclose((colour.images[i][p] + 1) / 2, data.PALETTE[grey.labels[i]] * (grey.images[i][p][0] + 1) / 2, atol=1e-6)


def test_a_vae_run_writes_its_figures_and_test_elbo_and_resumes_bitwise(tmp_path):
    cfg = _cfg()
    out = runs.start(cfg, tmp_path / "a", progress=False)
    assert out.reason == "done" and out.headline == ("loss",)
    r = tmp_path / "a"
    result = json.loads((r / "ae_eval.json").read_text())
    assert result["test_elbo"] < 0 and result["n_test"] == 1000
    for name in ("latent", "manifold", "reconstructions", "interpolations", "samples_prior", "curves"):
        assert (r / f"{name}.png").stat().st_size > 1000, name
    half = runs.start(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=4)), tmp_path / "b", progress=False)
    assert half.step == 4
    runs.resume(tmp_path / "b", ["train.steps=8"], progress=False)
    states = []
    for d in ("a", "b"):
        model = build.engine(cfg, (28, 28, 1))
        step, state, ck = rundir.restore(tmp_path / d, model)
        ck.close()
        states.append(state)
    assert _equal(states[0].params, states[1].params)
