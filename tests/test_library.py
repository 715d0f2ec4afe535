"""The library as a researcher's script uses it: engines from their own NNX modules, optax transforms and
loss functions; gj.fit for any engine; stochastic layers keyed by the step; several seeds with vmap."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gan_jax as gj
from gan_jax.run import RunError
from test_gan import _equal

K = 20  # dropout units in the mask-revealing D


class MaskD(nnx.Module):
    """D(x) = sum_i dropout(1)_i * 2^i for every input: the logit names the dropout mask of the pass."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.weights = nnx.Variable(2.0 ** jnp.arange(K))
        self.bias = nnx.Param(jnp.zeros(()))

    def __call__(self, x, train: bool = False):
        mask = self.drop(jnp.ones((x.shape[0], K)), deterministic=not train) / 2.0  # 0/1 (kept are scaled x2)
        return mask @ self.weights[...] + 0.0 * self.bias[...] + 0.0 * jnp.mean(x)


class TinyG(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.fc = nnx.Linear(4, 8, rngs=rngs)

    def __call__(self, z, train: bool = False):
        return jnp.tanh(self.fc(z)).reshape(z.shape[0], 2, 2, 2)


def test_dropout_masks_differ_between_ds_real_fake_and_gs_passes_and_between_steps():
    # wasserstein terms are linear in the logits: d_loss_real = -mean D(real), d_loss_fake = mean D(fake),
    # g_loss = -mean D(G(z)) in G's turn; D's mask weights are not parameters, so the values name the masks
    gan = gj.GAN(TinyG, MaskD, optax.sgd(0.0), optax.sgd(0.0), loss=gj.losses.wasserstein, z_dim=4, batch_size=1,
                 d_update="joint")
    state = gan.init(jax.random.key(0))
    data = jnp.zeros((4, 2, 2, 2))
    step = jax.jit(gan.train_step)
    masks = []
    for _ in range(2):
        state, m = step(state, data)
        masks.append((-float(m["d_loss_real"]), float(m["d_loss_fake"]), -float(m["g_loss"])))
    flat = [v for step_masks in masks for v in step_masks]
    assert len(set(flat)) == len(flat), masks  # six passes, six different masks
    assert all(v == int(v) and 0 <= v < 2**K for v in flat)  # each is a mask (sum of distinct powers of 2)
    # eval mode (sampling, discriminate) has no dropout: every unit kept, unscaled (1/2 each here)
    assert float(gan.discriminate(state.d_params, state.d_rest, data[:1])[0]) == (2**K - 1) / 2
    # the same step from the same state gives the same masks: they come from the step's key
    again = jax.jit(gan.train_step)(gan.init(jax.random.key(0)), data)[1]
    assert -float(again["d_loss_real"]) == masks[0][0]


class DropoutD(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(8, 16, rngs=rngs)
        self.drop = nnx.Dropout(0.3, rngs=rngs)
        self.fc2 = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x, train: bool = False):
        h = self.drop(jax.nn.leaky_relu(self.fc1(x.reshape(x.shape[0], -1)), 0.2), deterministic=not train)
        return self.fc2(h)[:, 0]


def test_a_run_with_dropout_resumes_bitwise(tmp_path):
    data = np.random.default_rng(0).uniform(-1, 1, (64, 2, 2, 2)).astype(np.float32)
    gan = gj.GAN(TinyG, DropoutD, optax.adam(1e-2), optax.adam(1e-2), loss=gj.losses.hinge, z_dim=4, batch_size=8)
    kw = dict(key=jax.random.key(3), log_interval=2, sample_interval=4, checkpoint_interval=4, progress=False)
    whole = gj.fit(gan, data, run_dir=tmp_path / "whole", steps=8, **kw)
    gj.fit(gan, data, run_dir=tmp_path / "half", steps=4, **kw)
    resumed = gj.fit(gan, data, run_dir=tmp_path / "half", steps=8, resume=True, **kw)
    assert resumed.step == 8 and _equal(whole.state, resumed.state)
    assert not _equal(whole.state.d_params, gan.init(jax.random.key(3)).d_params)  # it trained
    # the checkpoint holds no RNG stream state: it is rebuilt from the step's key at every pass
    assert not any("rngs" in str(p) for p, _ in jax.tree_util.tree_flatten_with_path(whole.state)[0])


def test_engines_are_immutable_values():
    gan = gj.GAN(TinyG, DropoutD, optax.adam(1e-3), optax.adam(1e-3), z_dim=4, batch_size=8)
    with pytest.raises(AttributeError, match="immutable"):
        gan.r1_weight = 1.0
    with pytest.raises(Exception):
        gan.settings.r1_weight = 1.0  # a frozen dataclass
    other = gan.replace(r1_weight=1.0)
    assert other.settings.r1_weight == 1.0 and gan.settings.r1_weight == 0.0
    assert gan.replace(loss=gj.losses.rpgan).settings.d_update == "joint"  # decided again for the new loss
    with pytest.raises(TypeError, match="unknown settings .*r1_wieght"):
        gj.GAN(TinyG, DropoutD, optax.adam(1e-3), optax.adam(1e-3), r1_wieght=1.0)
    with pytest.raises(ValueError, match="d_update: split needs a loss with separate real and fake terms"):
        gj.GAN(TinyG, DropoutD, optax.adam(1e-3), optax.adam(1e-3), loss=gj.losses.rpgan, d_update="split")
    with pytest.raises(ValueError, match="ema_decay: must be in"):
        gj.GAN(TinyG, DropoutD, optax.adam(1e-3), optax.adam(1e-3), ema_decay=1.0)
    with pytest.raises(TypeError, match="generator must be an nnx.Module or a callable"):
        gj.GAN(3, DropoutD, optax.adam(1e-3), optax.adam(1e-3))


class WideD(DropoutD):
    def __call__(self, x, train: bool = False):
        return super().__call__(x, train)[:, None]  # (B, 1): one column too many


def test_players_that_break_the_contract_fail_when_the_engine_is_built():
    with pytest.raises(ValueError, match=r"discriminator: must return one logit per D input, shape \(B,\).*\(2, 1\)"):
        gj.GAN(TinyG, WideD, optax.adam(1e-3), optax.adam(1e-3), z_dim=4)
    with pytest.raises(ValueError, match=r"generator: calling it as G\(z, train=True\) on noise of shape \(2, 5\)"):
        gj.GAN(TinyG, DropoutD, optax.adam(1e-3), optax.adam(1e-3), z_dim=5)  # TinyG takes 4-d noise


def test_a_comparing_loss_takes_one_joint_d_step_and_g_sees_the_real_batch():
    gan = gj.GAN(TinyG, DropoutD, optax.adam(1e-2), optax.adam(1e-2), loss=gj.losses.rpgan, z_dim=4, batch_size=8)
    state = gan.init(jax.random.key(0))
    data = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (64, 2, 2, 2)), jnp.float32)
    new, m = jax.jit(gan.train_step)(state, data)
    assert int(new.d_opt[0].count) == 1 and int(new.g_opt[0].count) == 1  # one joint D step, one G step
    assert set(m) == {"d_loss", "g_loss"}  # no accuracy: rpgan has no decision threshold
    z = gan.noise(jax.random.key(5), 8)
    with pytest.raises(ValueError, match="g_step needs x_real"):
        gan.g_step(state, z)
    # G's loss, and so its update, depends on the real batch it is shown
    a, _ = gan.g_step(state, z, data[:8])
    b, _ = gan.g_step(state, z, data[8:16])
    assert not _equal(a.g_params, b.g_params)


def test_vmapped_seeds_equal_their_separate_runs():
    gan = gj.GAN(TinyG, DropoutD, optax.adam(1e-2), optax.adam(1e-2), z_dim=4, batch_size=8)
    data = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (64, 2, 2, 2)), jnp.float32)
    keys = jax.random.split(jax.random.key(0), 3)
    states = jax.vmap(gan.init)(keys)
    steps = jax.jit(jax.vmap(gj.repeat(gan.train_step, 3), in_axes=(0, None)))
    states, metrics = steps(states, data)
    assert metrics["d_loss"].shape == (3, 3)
    alone, _ = jax.jit(gj.repeat(gan.train_step, 3))(gan.init(keys[1]), data)
    for a, b in zip(jax.tree.leaves(jax.tree.map(lambda x: x[1], states.g_params)), jax.tree.leaves(alone.g_params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    g0, g1 = (jax.tree.leaves(jax.tree.map(lambda x: x[i], states.g_params))[0] for i in (0, 1))
    assert not np.allclose(g0, g1)  # different seeds, different players


class Counter:
    """A user's engine with no players at all: gj.fit only needs init / train_step / sample / noise."""

    headline = ("err",)

    def init(self, key):
        return {"step": jnp.zeros((), jnp.int32), "w": jnp.zeros((2,)), "key": key}

    def train_step(self, state, data):  # SGD on the mean of a noisy batch
        k = jax.random.fold_in(state["key"], state["step"])
        x = data[jax.random.randint(k, (4,), 0, data.shape[0])].reshape(4, -1)[:, :2]
        err = jnp.mean((x - state["w"]) ** 2)
        w = state["w"] + 0.1 * jnp.mean(x - state["w"], axis=0)
        return {**state, "step": state["step"] + 1, "w": w}, {"err": err, "w0": w[0]}

    def sample(self, state, z):
        return z + state["w"]

    def noise(self, key, n):
        return jax.random.normal(key, (n, 2))


def test_fit_runs_any_engine_meeting_the_protocol(tmp_path):
    data = np.random.default_rng(0).normal(3.0, 1.0, (100, 2)).astype(np.float32)
    kw = dict(key=jax.random.key(0), log_interval=5, sample_interval=10, checkpoint_interval=10, progress=False)
    out = gj.fit(Counter(), data, run_dir=tmp_path / "c", steps=20, **kw)
    rows = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20] and {"err", "w0", "it_per_s"} <= set(rows[0])
    assert rows[-1]["err"] < rows[0]["err"] and 1.5 < float(out.state["w"][0]) < 3.5  # it learned the mean
    assert (tmp_path / "c" / "curves.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "c" / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
    half = gj.fit(Counter(), data, run_dir=tmp_path / "h", steps=10, **kw)
    assert half.step == 10
    resumed = gj.fit(Counter(), data, run_dir=tmp_path / "h", steps=20, resume=True, **kw)
    assert _equal(resumed.state, out.state)
    loaded = gj.load_run(tmp_path / "c", engine=Counter())
    assert loaded.step == 20 and loaded.config is None and _equal(loaded.state, out.state)
    with pytest.raises(RunError, match="already exists and is not empty"):
        gj.fit(Counter(), data, run_dir=tmp_path / "c", steps=20, **kw)
    # intervals need not be multiples of fuse: shorter calls land on steps 7 and 14, and the run ends where
    # single steps end
    odd = gj.fit(Counter(), data, run_dir=tmp_path / "x", steps=20, fuse=2, sample_interval=7,
                 **{k: v for k, v in kw.items() if k != "sample_interval"})
    assert sorted(p.name for p in (tmp_path / "x" / "samples").iterdir()) == [
        "step_000007.png", "step_000014.png", "step_000020.png"]
    assert _equal(odd.state, out.state)
    with pytest.raises(ValueError, match="fuse must be >= 1"):
        gj.fit(Counter(), data, run_dir=tmp_path / "y", steps=20, fuse=0)
    with pytest.raises(RunError, match="the data changed"):
        gj.fit(Counter(), data[:50], run_dir=tmp_path / "h", steps=30, resume=True, **kw)


def test_autoencoder_helpers_work_in_image_units():
    vae = gj.models.autoencoder.build("vae", (4, 4, 1), (4, 4, 1), z_dim=2, hidden=8)
    ae = gj.Autoencoder(vae, optax.adam(1e-3), batch_size=4)
    state = ae.init(jax.random.key(0))
    images = np.random.default_rng(0).uniform(-1, 1, (7, 4, 4, 1)).astype(np.float32)
    codes = ae.embed(state, images, batch=3)  # batches of 3, 3, 1
    assert codes.shape == (7, 2)
    mean, logvar = ae.encode(state.params, jnp.asarray((images + 1) / 2))  # the model's [0, 1] inputs
    np.testing.assert_allclose(codes, np.asarray(mean), rtol=1e-5, atol=1e-6)
    assert logvar is not None and ae.settings.z_dim == 2  # read from the model's `latent`
    decoded = ae.decode(state, codes, batch=2)
    assert decoded.shape == images.shape and decoded.min() >= -1 and decoded.max() <= 1
    recon = ae.reconstruct(state, images)
    np.testing.assert_allclose(recon, decoded, rtol=1e-5, atol=1e-6)  # decoding the mean code


def test_the_public_surface():
    for name in ("GAN", "Autoencoder", "fit", "load_run", "jit", "repeat", "Streams", "losses", "metrics", "models",
                 "data"):
        assert hasattr(gj, name), name
    assert callable(gj.metrics.fd) and callable(gj.losses.rpgan)
    s = gj.Streams.of(jax.random.key(0))
    assert len({tuple(np.asarray(jax.random.key_data(k))) for k in s}) == 3  # three different streams
    G, D = gj.models.mlp_players((28, 28, 1), z_dim=8)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=8)
    assert _equal(gan.init(7), gan.init(jax.random.key(7)))  # an int seed is key(seed)
    with pytest.raises(TypeError, match="typed key"):
        gan.init(jax.random.PRNGKey(0))  # a raw uint32 key is refused, not misread
