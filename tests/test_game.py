"""gan_jax.game: any game of named players. Locked players stay bitwise unchanged, turns step by hand-computed
amounts, randomness and batches follow the documented keys, and a game runs in fit, Seeds and resume."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gan_jax as gj
from gan_jax import previews, run, sampling
from gan_jax.game import PASS_SALT, Game, Turn


class Net(nnx.Module):
    """Linear -> BatchNorm -> dropout -> linear: a player with parameters, statistics and an RNG stream."""

    def __init__(self, n_in: int, n_out: int, rngs: nnx.Rngs, dropout: float = 0.0):
        self.a = nnx.Linear(n_in, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.b = nnx.Linear(8, n_out, rngs=rngs)

    def __call__(self, x, train: bool = True):
        h = jax.nn.relu(self.bn(self.a(x), use_running_average=not train))
        return self.b(self.drop(h, deterministic=not train))

    def encode(self, x, train: bool = True):
        return self(x, train=train)


X, Z = 6, 3  # a sample's and a code's size


def bigan(dropout: float = 0.0, **settings) -> Game:
    """A BiGAN: G(z) and E(x) against D on (x, z) pairs."""
    G = functools.partial(Net, Z, X)
    E = functools.partial(Net, X, Z)
    D = functools.partial(Net, X + Z, 1, dropout=dropout)

    def d_of(nets, x, z):
        return nets.D(jnp.concatenate([x, z], axis=1))[:, 0]

    def d_loss(nets, x, key):
        z = nets.noise(key, x.shape[0])
        real, fake = d_of(nets, x, nets.E.encode(x)), d_of(nets, nets.G(z), z)
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake)), {"d_real": jnp.mean(real)}

    def ge_loss(nets, x, key):
        z = nets.noise(key, x.shape[0])
        real, fake = d_of(nets, x, nets.E.encode(x)), d_of(nets, nets.G(z), z)
        return jnp.mean(jax.nn.softplus(real)) + jnp.mean(jax.nn.softplus(-fake))

    tx = {p: optax.adam(1e-2) for p in "GED"}
    return Game({"G": G, "E": E, "D": D}, tx, [Turn("D", d_loss), Turn(("G", "E"), ge_loss)],
                sample=lambda nets, z: nets.G(z), noise=lambda key, n: jax.random.normal(key, (n, Z)),
                **{"batch_size": 8, **settings})


def data(n: int = 40) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, X)).astype(np.float32)


def _host(x) -> np.ndarray:
    return np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)


def same(a, b) -> bool:
    """Bitwise equal pytrees (keys compared by their data)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(_host(x), _host(y)) for x, y in zip(la, lb))


def differs_everywhere(a, b) -> bool:
    """Every array leaf moved (a turn that trained the player moved each of its parameters)."""
    return all(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_a_turn_trains_its_players_and_leaves_the_locked_ones_bitwise_alone():
    game = bigan()
    state = game.init(0)
    x = jnp.asarray(data()[:8])
    play = jax.jit(game.play, static_argnums=1)
    after_d, _ = play(state, game.turns[0], x, jax.random.key(1))
    for p in "GE":  # locked in D's turn: weights, batch statistics and optimiser state untouched
        assert same(after_d.params[p], state.params[p]) and same(after_d.rest[p], state.rest[p])
        assert same(after_d.opt[p], state.opt[p])
    assert differs_everywhere(after_d.params["D"], state.params["D"])
    assert not same(after_d.rest["D"], state.rest["D"])  # D's running averages moved in its own turn
    assert int(after_d.opt["D"][0].count) == 1
    after_ge, _ = play(after_d, game.turns[1], x, jax.random.key(2))
    assert same(after_ge.params["D"], after_d.params["D"]) and same(after_ge.rest["D"], after_d.rest["D"])
    assert same(after_ge.opt["D"], after_d.opt["D"])
    for p in "GE":
        assert differs_everywhere(after_ge.params[p], after_d.params[p]) and int(after_ge.opt[p][0].count) == 1
        assert not same(after_ge.rest[p], after_d.rest[p])


def test_a_locked_player_gets_no_gradient():
    """The turn differentiates its own players only: a loss through D alone gives E no update even with a
    rule (SGD with weight decay) that would move any parameter it was handed."""

    class Lin(nnx.Module):
        def __init__(self, rngs):
            self.w = nnx.Param(jnp.array([2.0]))

        def __call__(self, x):
            return x * self.w[0]

    def loss(nets, x, key):
        return jnp.mean(nets.D(nets.E(x)) ** 2)

    tx = optax.chain(optax.add_decayed_weights(0.5), optax.sgd(0.1))
    game = Game({"E": Lin, "D": Lin}, {"E": tx, "D": tx}, [Turn("D", loss)], batch_size=1)
    state, m = game.play(game.init(0), game.turns[0], jnp.array([1.0]), jax.random.key(0))
    # loss = (x wE wD)^2 = 16 at x=1, wE=wD=2; dloss/dwD = 2 x^2 wE^2 wD = 16; + decay 0.5 * 2 = 17
    assert float(m["D_loss"]) == 16.0
    assert float(state.params["D"]["w"][0]) == pytest.approx(2.0 - 0.1 * 17.0)
    assert float(state.params["E"]["w"][0]) == 2.0


def test_one_step_by_hand_with_two_losses_in_one_turn():
    """A turn of two losses takes two optax steps in order (the book's split D update): SGD on w^2 then on
    (w - 3)^2, from w = 2 with rate 0.25: 2 - 0.25 * 4 = 1, then 1 - 0.25 * 2 * (1 - 3) = 2."""

    class W(nnx.Module):
        def __init__(self, rngs):
            self.w = nnx.Param(jnp.array(2.0))

        def __call__(self):
            return self.w[...]

    game = Game({"P": W}, {"P": optax.sgd(0.25)},
                [Turn("P", (lambda nets, b, k: (nets.P() ** 2, {"first": nets.P()}),
                            lambda nets, b, k: ((nets.P() - 3.0) ** 2, {"second": nets.P()})))], batch_size=1)
    state, m = jax.jit(game.train_step)(game.init(0), jnp.zeros((4, 1)))
    assert float(state.params["P"]["w"]) == 2.0
    assert (float(m["first"]), float(m["second"]), float(m["P_loss"])) == (2.0, 1.0, 4.0 + 4.0)


def test_the_moving_average_follows_the_warmed_up_rule():
    game = bigan(ema={"G": 0.999})
    s0 = game.init(0)
    s1, _ = jax.jit(game.train_step)(s0, data())
    decay = min(0.999, 1 / 10)  # step 0's warm-up
    for e, p0, p1 in zip(jax.tree.leaves(s1.ema["G"]), jax.tree.leaves(s0.params["G"]), jax.tree.leaves(s1.params["G"])):
        np.testing.assert_allclose(e, decay * p0 + (1 - decay) * p1, rtol=1e-6, atol=1e-7)
    z = game.noise(jax.random.key(3), 4)
    assert same(game.sample(s1, z), game.nets(s1).G(z))  # samples come from the average
    assert not same(game.sample(s1, z), game.nets(s1, averaged=False).G(z))


def test_every_pass_draws_its_own_dropout_keys_from_the_turn_key():
    game = bigan(dropout=0.5)
    state = game.init(0)
    ones = jnp.ones((8, X + Z))
    key = jax.random.key(5)

    def loss(nets, batch, k):
        first, second = nets.D(ones), nets.D(ones)
        return jnp.mean(second), {"first": first[:, 0], "second": second[:, 0]}

    _, m = jax.jit(lambda s: game.play(s, Turn("D", loss), ones, key))(state)
    assert not np.allclose(m["first"], m["second"])  # distinct masks
    base = jax.random.fold_in(key, PASS_SALT)  # pass i of the turn's first loss: fold_in(base, i)
    for i, name in enumerate(("first", "second")):
        expected, _ = game.players["D"].call(state.params["D"], state.rest["D"], "__call__", (ones,), {}, True,
                                             "float32", jax.random.fold_in(base, i))
        np.testing.assert_allclose(m[name], expected[:, 0], rtol=1e-6)
    _, again = jax.jit(lambda s: game.play(s, Turn("D", loss), ones, key))(state)
    assert same(m, again)  # the same key, the same masks


def test_a_step_draws_one_batch_per_repeat_and_turns_share_the_last():
    class Sum(nnx.Module):
        def __init__(self, rngs):
            self.w = nnx.Param(jnp.zeros(()))

        def __call__(self, x):
            return self.w[...] * 0.0 + jnp.sum(x)

    def recorder(name):
        def loss(nets, batch, key):
            return nets.P(batch), {f"{name}_batch": jnp.sum(batch)}
        return loss

    game = Game({"P": Sum, "Q": Sum}, {"P": optax.sgd(0.1), "Q": optax.sgd(0.1)},
                [Turn("P", recorder("P"), repeat=3), Turn("Q", recorder("Q"))], batch_size=4)
    images = jnp.arange(50.0)
    state = game.init(7)
    _, m = jax.jit(game.train_step)(state, images)
    draws = [float(jnp.sum(sampling.draw(images, state.data_key, state.step, 4, "replacement", i, 3)))
             for i in range(3)]
    assert len(set(draws)) == 3
    assert float(m["P_batch"]) == pytest.approx(np.mean(draws))  # P's three repeats saw draws 0, 1, 2
    assert float(m["Q_batch"]) == draws[2]  # Q's one repeat saw the last


def test_unpaired_parts_are_drawn_on_their_own_and_pixels_arrive_as_floats(tmp_path):
    a = np.full((10, 2, 2, 1), -1.0, np.float32)
    b = (np.arange(3 * 2 * 2 * 1).reshape(3, 2, 2, 1) % 255 / 127.5 - 1).astype(np.float32)
    dtypes = []

    def loss(nets, batch, key):
        dtypes.extend([batch["a"].dtype, batch["b"].dtype])
        return jnp.mean(nets.P(batch["a"].reshape(4, -1))) + 0.0 * jnp.sum(batch["b"]), {
            "a_mean": jnp.mean(batch["a"]), "b_max": jnp.max(batch["b"])}

    P = functools.partial(Net, 4, 1)
    game = Game({"P": P}, {"P": optax.adam(1e-3)}, [Turn("P", loss)], batch_size=4,
                sample=lambda nets, z: jnp.tanh(nets.P(z.reshape(z.shape[0], -1))).reshape(-1, 1, 1, 1),
                noise=lambda key, n: jax.random.normal(key, (n, 4)))
    data = gj.data.Unpaired(a=a, b=b)
    out = gj.fit(game, data, run_dir=tmp_path / "run", steps=2, log_interval=1, sample_interval=2,
                 checkpoint_interval=2, progress=False)
    assert set(map(str, dtypes)) == {"float32"}  # stored as uint8 on the device, floats in the loss
    assert out.last["a_mean"] == -1.0 and out.last["b_max"] <= float(b.max())
    recorded = json.loads((tmp_path / "run" / "data.json").read_text())
    assert recorded["source"] == "unpaired" and set(recorded["parts"]) == {"a", "b"}
    assert recorded["parts"]["b"]["n"] == 3 and recorded["parts"]["a"]["image_shape"] == [2, 2, 1]
    with pytest.raises(run.RunError, match="data changed"):  # a resume with another part is refused
        gj.fit(game, gj.data.Unpaired(a=a, b=b[:2]), run_dir=tmp_path / "run", steps=4, resume=True, progress=False)


def test_unpaired_refuses_an_empty_part_and_paired_data_of_two_lengths():
    with pytest.raises(ValueError, match="part 'b' is empty"):
        gj.data.Unpaired(a=np.zeros((3, 2)), b=np.zeros((0, 2)))
    with pytest.raises(ValueError, match="one length"):
        sampling.draw({"x": jnp.zeros((4, 2)), "y": jnp.zeros((3, 2))}, jax.random.key(0), jnp.asarray(0), 2,
                      "replacement")


def test_a_game_resumes_bitwise_and_trains_as_seeds(tmp_path):
    game = bigan()
    kw = dict(log_interval=2, sample_interval=4, checkpoint_interval=2, progress=False)
    whole = gj.fit(game, data(), run_dir=tmp_path / "whole", steps=6, **kw)
    gj.fit(game, data(), run_dir=tmp_path / "cut", steps=2, **kw)
    resumed = gj.fit(game, data(), run_dir=tmp_path / "cut", steps=6, resume=True, **kw)
    assert same(whole.state, resumed.state) and list((tmp_path / "whole" / "samples").glob("*.png"))
    loaded = gj.load_run(tmp_path / "cut", engine=game)
    assert loaded.step == 6 and same(loaded.state.params, whole.state.params)
    two = gj.Seeds(game, 2)
    out = gj.fit(two, data(), run_dir=tmp_path / "seeds", steps=2, key=jax.random.key(4), **kw)
    single = gj.fit(game, data(), run_dir=tmp_path / "one", steps=2, key=jax.random.split(jax.random.key(4), 2)[1], **kw)
    # seed 1 is the single run with its key, up to vmap's rounding (Adam's first steps turn the ~0 gradients
    # of a bias before BatchNorm into +-lr either way, so compare the losses, not those weights)
    for name in ("D_loss", "G_E_loss", "d_real"):
        assert out.last[f"{name}/seed1"] == pytest.approx(single.last[name], rel=1e-4, abs=1e-6), name
    assert out.last["D_loss/seed0"] != pytest.approx(out.last["D_loss/seed1"], rel=1e-3)


def test_bfloat16_computes_in_bfloat16_and_keeps_float32_weights():
    game = bigan(precision="bfloat16")
    state, m = jax.jit(game.train_step)(game.init(0), data())
    assert {x.dtype for x in jax.tree.leaves(state.params)} == {jnp.dtype("float32")}
    assert np.isfinite(float(m["D_loss"]))
    dtypes = []
    game.players["D"].call(state.params["D"], state.rest["D"], "__call__", (jnp.ones((2, X + Z)),), {}, True,
                           "bfloat16")
    lowered = jax.jit(lambda s: game.play(s, game.turns[0], jnp.ones((8, X)), jax.random.key(0))).lower(state)
    dtypes = lowered.as_text()
    assert "bf16" in dtypes


def test_a_custom_engine_receives_the_data_as_given(tmp_path):
    """fit stores pixels as uint8 only for engines that draw through sampling.draw (compact_data)."""
    seen = []

    class Mean:
        def init(self, key):
            return {"step": jnp.zeros((), jnp.int32), "m": jnp.zeros(())}

        def train_step(self, state, data):
            seen.append(data.dtype)
            return {"step": state["step"] + 1, "m": jnp.mean(data)}, {"m": jnp.mean(data)}

        def sample(self, state, z):
            return jnp.zeros((z.shape[0], 2, 2, 1)) + state["m"]

        def noise(self, key, n):
            return jnp.zeros((n, 1))

    images = np.full((4, 2, 2, 1), 1.0, np.float32)  # pixel values: compact would make them uint8
    out = gj.fit(Mean(), images, run_dir=tmp_path / "run", steps=1, log_interval=1, progress=False)
    assert seen == [jnp.dtype("float32")] and out.last["m"] == 1.0


def test_bad_games_are_refused_with_what_to_fix():
    G = functools.partial(Net, Z, X)
    loss = lambda nets, b, k: 0.0  # noqa: E731
    with pytest.raises(ValueError, match=r"turn 'E' trains \['E'\], which are not players"):
        Game({"G": G}, {"G": optax.sgd(1.0)}, [Turn("E", loss)])
    with pytest.raises(ValueError, match=r"missing \['G'\]"):
        Game({"G": G}, {}, [Turn("G", loss)])
    with pytest.raises(ValueError, match="repeat must be an int >= 1"):
        Turn("G", loss, repeat=0)
    with pytest.raises(ValueError, match="player names"):
        Game({"noise": G}, {"noise": optax.sgd(1.0)}, [Turn("noise", loss)])
    game = Game({"G": G}, {"G": optax.sgd(1.0)},
                [Turn("G", lambda nets, b, k: (jnp.mean(nets.G(b)), {"m": 1.0})),
                 Turn("G", lambda nets, b, k: (jnp.mean(nets.G(b)), {"m": 2.0}), name="again")], batch_size=2)
    with pytest.raises(ValueError, match=r"reports metrics \['m'\] that an earlier turn reports"):
        game.train_step(game.init(0), jnp.zeros((4, Z)))
    vector = Game({"G": G}, {"G": optax.sgd(1.0)}, [Turn("G", lambda nets, b, k: nets.G(b))], batch_size=2)
    with pytest.raises(TypeError, match="float scalar"):
        vector.train_step(vector.init(0), jnp.zeros((4, Z)))
    with pytest.raises(AttributeError, match="no player 'H'"):
        Game({"G": G}, {"G": optax.sgd(1.0)}, [Turn("G", lambda nets, b, k: jnp.mean(nets.H(b)))],
             batch_size=2).train_step(Game({"G": G}, {"G": optax.sgd(1.0)}, [Turn("G", loss)]).init(0),
                                      jnp.zeros((4, Z)))


def test_fit_resume_auto_and_a_signal_a_script_cannot_miss(tmp_path):
    """resume="auto" starts a new run, then continues it; a SIGTERM during fit from Python saves a checkpoint
    and raises `Stopped` (holding the Outcome), which resume=True continues to the bitwise same state."""
    import os
    import signal

    game = bigan()
    kw = dict(log_interval=2, sample_interval=2, checkpoint_interval=4, progress=False)
    first = gj.fit(game, data(), run_dir=tmp_path / "auto", steps=2, resume="auto", **kw)
    again = gj.fit(game, data(), run_dir=tmp_path / "auto", steps=4, resume="auto", **kw)
    assert first.step == 2 and again.step == 4

    class SignalAt(previews.GridPreview):
        def __call__(self, state, step):
            if step == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would; the loop stops after its next call
            return super().__call__(state, step)

    with pytest.raises(run.Stopped, match="SIGTERM: training stopped at step 3") as stopped:
        gj.fit(game, data(), run_dir=tmp_path / "cut", steps=6, preview=SignalAt(game), **kw)
    assert stopped.value.outcome.step == 3 and stopped.value.signum == signal.SIGTERM
    assert isinstance(stopped.value, KeyboardInterrupt)  # `except Exception` in a script does not swallow it
    resumed = gj.fit(game, data(), run_dir=tmp_path / "cut", steps=6, resume=True, **kw)
    whole = gj.fit(game, data(), run_dir=tmp_path / "whole", steps=6, **kw)
    assert same(resumed.state, whole.state)
