"""`Game(players, tx, turns)`: any number of named players taking turns, each turn training only its own.

A GAN is a game: G and D train in turns, each updating only its own parameters while the other is locked.
So are a BiGAN (G and an encoder E against a D of (x, z) pairs), a CycleGAN (two generators, two
discriminators), an InfoGAN (G and a Q head against D). `Game` runs any of them:

    game = Game(players={"G": G, "E": E, "D": D},
                tx={"G": optax.adam(2e-4, b1=0.5), "E": optax.adam(2e-4, b1=0.5), "D": optax.adam(2e-4, b1=0.5)},
                turns=[Turn("D", d_loss), Turn(("G", "E"), ge_loss)],
                sample=lambda nets, z: nets.G(z), noise=lambda key, n: jax.random.normal(key, (n, 64)))

    def d_loss(nets, batch, key):   # nets.G, nets.E, nets.D: the players as functions; batch: real data
        ...                         # returns a scalar, or (scalar, dict of scalar metrics)

What a turn does, for each of its `repeat`s: it differentiates its loss with respect to the parameters of
the players it names and takes one optax step for each of them; every other player is locked: it enters
as a constant (no gradient), its batch statistics do not move, its optimiser state is untouched (tested
for a three-player game). A turn given several losses (`Turn("D", (real_loss, fake_loss))`) takes one
optax step per loss, in order, on the same batch and key: the book's split D update.

Inside a loss, `nets.NAME(x, ...)` calls a player's module, `nets.NAME.method(...)` any other method
(`nets.E.encode(x)`). A module method with a `train` parameter gets train=True in turns and train=False
in `sample` unless the call says otherwise. Each call is one pass: a trained player's batch statistics
move pass after pass; its dropout (any nnx RNG stream) is reseeded from the turn's key with a different
key per pass. `nets.noise(key, n)` draws the game's noise.

Randomness and data are explicit, as in every engine here: the step's key is `fold_in(state.key,
state.step)`, split into one key per turn (a game of one turn uses it as it is; a repeat r > 0 folds r
in); batches come from `fold_in(state.data_key, state.step)` (`gan_jax.sampling`). So a resumed run
continues bit for bit, and `gan_jax.Seeds(game, n)` trains n seeds in one call. Each step draws as many
batches as the longest turn repeats; a turn's last repeat sees the step's last batch, so the turns of a step share one batch
and a critic repeated n times sees n fresh ones. The data may be an array, a tuple or dict of arrays of
one length (pairs stay pairs), `gan_jax.data.Unpaired(a=..., b=...)` (each part drawn on its own) or
`sampling.Parts`; images stored as uint8 pixels arrive in the loss as float32 in [-1, 1].

`ema={"G": 0.999}` keeps a moving average of a player's weights, moved after each of its updates
(warmed up: decay min(decay, (1 + t) / (10 + t)) at step t); `sample` uses it. `precision="bfloat16"`
computes every pass in bfloat16 with float32 weights and optimiser states; `devices` splits every batch
over that many devices (0 = all; `gan_jax.parallel`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gan_jax import parallel
from gan_jax import sampling as sampling_lib  # `sampling` is a setting's name here
from gan_jax.players import Player, Streams, moving_average

Metrics = dict[str, jax.Array]
PASS_SALT = 0x5EED  # a turn's pass keys: fold_in(fold_in(turn key, PASS_SALT + loss index), pass index)


@dataclasses.dataclass(frozen=True)
class Turn:
    """One turn of a game: the players it trains and the loss they descend.

    Args:
      players: a player's name, or a tuple of names trained together on one loss.
      loss: `loss(nets, batch, key) -> scalar or (scalar, metrics)`; or a tuple of such losses, one optax
        step each, in order, on the same batch and key.
      repeat: how many times the turn runs per step (a critic's n_critic), each on a fresh batch and key.
      name: what its metrics are called (default: the players' names joined by "_"); its loss is logged as
        `<name>_loss` (the sum of its losses) unless a loss reports that metric itself.
      report: `report(metrics) -> metrics`, what a repeat reports, derived from what its losses reported
        (default: as they are).
      keeps: players the turn does not train whose other variables it keeps as its passes move them: a
        history pool of generated images (`gan_jax.translation.HistoryPool`), a running statistic.

    >>> Turn(("G", "E"), lambda nets, batch, key: 0.0).name
    'G_E'
    """

    players: str | tuple[str, ...]
    loss: Callable | tuple[Callable, ...]
    repeat: int = 1
    name: str | None = None
    report: Callable | None = None
    keeps: str | tuple[str, ...] = ()

    def __post_init__(self):
        players = (self.players,) if isinstance(self.players, str) else tuple(self.players)
        if not players or not all(isinstance(p, str) for p in players) or len(set(players)) < len(players):
            raise ValueError(f"Turn: players must be a name or a tuple of distinct names, got {self.players!r}")
        losses = self.loss if isinstance(self.loss, tuple) else (self.loss,)
        if not losses or not all(callable(f) for f in losses):
            raise TypeError(f"Turn {players}: loss must be a function (nets, batch, key) -> loss or a tuple of them, "
                            f"got {self.loss!r}")
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise ValueError(f"Turn {players}: repeat must be an int >= 1, got {self.repeat!r}")
        keeps = (self.keeps,) if isinstance(self.keeps, str) else tuple(self.keeps)
        if set(keeps) & set(players) or not all(isinstance(p, str) for p in keeps):
            raise ValueError(f"Turn {players}: keeps names players it does not train, got {self.keeps!r}")
        object.__setattr__(self, "players", players)
        object.__setattr__(self, "keeps", keeps)
        object.__setattr__(self, "loss", losses)
        object.__setattr__(self, "name", self.name or "_".join(players))


class Transform(NamedTuple):
    """A map a game learns from images to images (a translator's `a2b`), for previews, `gan-jax translate`
    and evaluation: `fn(nets, x) -> y` on batches of `shape` (H, W, C), the players in eval mode.

    >>> Transform(lambda nets, x: nets.G(x), (28, 28, 1)).shape
    (28, 28, 1)
    """

    fn: Callable
    shape: tuple[int, ...]


@struct.dataclass
class GameState:
    """Everything a game changes while it trains; a pytree saved whole in checkpoints.

    params, rest, opt: dicts by player name of its nnx.Param pytree, its other variables (BatchNorm's
    running averages) and its optax state (only players some turn trains have one). ema: the moving
    averages kept (`Game(ema=...)`), by player. key seeds the per-step randomness, data_key the batches.
    """

    step: jax.Array
    params: dict
    rest: dict
    opt: dict
    ema: dict
    key: jax.Array
    data_key: jax.Array


class Net:
    """One player inside a loss: `net(x, ...)` runs its module's `__call__`, `net.method(...)` another
    method. Built by `Nets`; see the module docstring."""

    def __init__(self, nets: "Nets", name: str, key: Any = None, keep_stats: bool = True):
        self._nets, self._name, self._key, self._keep = nets, name, key, keep_stats

    def __call__(self, *args, **kwargs):
        return self._nets.call(self._name, "__call__", args, kwargs, self._key, self._keep)

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        self._nets.game.players[self._name].takes_train(method)  # an unknown method fails here, by name
        return lambda *args, **kwargs: self._nets.call(self._name, method, args, kwargs, self._key, self._keep)

    def using(self, key: jax.Array | None = None, keep_stats: bool = True) -> "Net":
        """This player with its passes' options.

        Args:
          key: the dropout key of its passes (default: the next pass key of the turn).
          keep_stats: False: its passes move no batch statistics (what a penalty's passes under an inner
            `jax.grad` need; `gan_jax.losses.r1_penalty` and its kin ask for it themselves).

        Returns:
          A Net.

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)])
        >>> game.nets(game.init(0)).D.using(keep_stats=False)(jnp.ones((2, 2))).shape
        (2,)
        """
        return Net(self._nets, self._name, key, keep_stats)


class Nets:
    """The players of a game as functions of given variables, for one loss (or `sample`).

    Attributes are the players (`nets.G`, a `Net`), `noise(key, n)` the game's noise, `step` the
    iteration being played and `data_size` the number of examples in the data (its first part). Calls on
    a trained player thread its batch statistics from pass to pass (kept as `rest` for the turn's update);
    a locked player's passes use its statistics and drop what they moved.
    """

    def __init__(self, game: "Game", params: Mapping, rest: Mapping, trained: Sequence[str], train: bool,
                 key: jax.Array | None, step: Any = 0, data_size: int = 0, keeps: Sequence[str] = ()):
        self.game, self.params, self.rest = game, params, dict(rest)
        self.trained, self.train, self.key, self.passes = frozenset(trained), train, key, 0
        self.kept = self.trained | frozenset(keeps)  # whose moved variables are kept
        self.step, self.data_size = step, data_size  # the iteration, and the examples in the data's first part

    def __getattr__(self, name: str) -> Net:
        if name.startswith("_") or name not in self.game.players:
            raise AttributeError(f"the game has no player {name!r}; its players: {', '.join(self.game.players)}")
        return Net(self, name)

    def noise(self, key: jax.Array, n: int):
        """The game's noise, split over the devices like a batch.

        Args:
          key: a typed key. n: how many draws.

        Returns:
          What the game's `noise(key, n)` returns.

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)],
        ...             noise=lambda key, n: jax.random.normal(key, (n, 2)))
        >>> Nets(game, {}, {}, (), True, None).noise(jax.random.key(0), 4).shape
        (4, 2)
        """
        return jax.tree.map(self.game.parallel.shard, self.game.noise(key, n))

    def call(self, name: str, method: str, args: tuple, kwargs: dict, key: Any = None, keep_stats: bool = True):
        """One pass of player `name`'s `method` (what `nets.NAME(...)` and `nets.NAME.method(...)` do).

        Args:
          name: the player. method: its module's method. args, kwargs: the call's arguments.
          key: its dropout key (None: fold_in(the turn's pass key, this pass's number)).
          keep_stats: keep the batch statistics it moves (a trained player's only).

        Returns:
          The method's output (floats in float32).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)])
        >>> state = game.init(0)
        >>> Nets(game, state.params, state.rest, (), False, None).call("D", "__call__", (jnp.ones((3, 2)),), {}).shape
        (3,)
        """
        player = self.game.players[name]
        if key is None and self.key is not None and player.stochastic:
            key = jax.random.fold_in(self.key, self.passes)
        self.passes += 1
        out, rest = player.call(self.params[name], self.rest[name], method, args, kwargs, self.train,
                                self.game.precision, key)
        if keep_stats and name in self.kept:
            self.rest[name] = rest
        return out


NETS_NAMES = frozenset(n for n in vars(Nets) if not n.startswith("_")) | {
    "game", "params", "rest", "trained", "kept", "train", "key", "passes", "step", "data_size"}  # Nets' own attributes


def _loss_and_metrics(out, where: str) -> tuple[jax.Array, Metrics]:
    """A loss function's return value as (scalar, metrics), with a clear error for anything else."""
    value, metrics = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{where}: a loss returns a scalar or (scalar, dict of metrics); its second element is "
                        f"{type(metrics).__name__}")
    value = jnp.asarray(value)
    if value.shape != () or not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"{where}: the loss must be a float scalar, got {value.dtype} of shape {value.shape} "
                        "(take a mean over the batch)")
    return value, dict(metrics)


class Game:
    """An engine of named players and turns (see the module docstring); the run loop's protocol
    (`gan_jax.fit`, `gan_jax.Seeds`, `gan_jax.load_run(..., engine=game)`).

    Args:
      players: {name: factory `rngs -> nnx.Module` (a class taking `rngs=`, or a functools.partial of
        one) or a module instance (used with the weights it has)}. Weights are drawn in this order.
      tx: {name: optax transformation} for every player some turn trains.
      turns: the `Turn`s of one step, in order.
      sample: `sample(nets, z) -> samples` for previews and export (players in eval mode, moving averages
        where kept); None when the game makes no samples from noise.
      noise: `noise(key, n) -> z`, what `sample` takes.
      batch_size: rows of each batch (of each part of `Unpaired` data).
      sampling: "replacement" (a random batch each step) or "epoch" (shuffled epochs).
      ema: {name: decay} of the players whose moving averages are kept.
      precision: "float32" or "bfloat16" compute.
      devices: data parallel over this many devices (0 = all).
      headline: the metrics a log line shows (default: each turn's loss).
      transforms: {name: `Transform(fn, shape)`}, the maps from images to images the game learns
        (`transform`).

    Example:
      >>> import functools
      >>> from gan_jax.models import mlp
      >>> G = functools.partial(mlp.Generator, 4, (2,), 8, 1, 0.2)
      >>> D = functools.partial(mlp.Discriminator, (2,), 8, 1, 0.2)
      >>> def d_loss(nets, x, key):
      ...     fake = nets.G(nets.noise(key, x.shape[0]))
      ...     return jnp.mean(jax.nn.softplus(-nets.D(x))) + jnp.mean(jax.nn.softplus(nets.D(fake)))
      >>> def g_loss(nets, x, key):
      ...     return jnp.mean(jax.nn.softplus(-nets.D(nets.G(nets.noise(key, x.shape[0])))))
      >>> game = Game({"G": G, "D": D}, {"G": optax.adam(1e-3), "D": optax.adam(1e-3)},
      ...             [Turn("D", d_loss), Turn("G", g_loss)], sample=lambda nets, z: nets.G(z),
      ...             noise=lambda key, n: jax.random.normal(key, (n, 4)), batch_size=8)
      >>> state, metrics = jax.jit(game.train_step)(game.init(0), jnp.zeros((32, 2)))
      >>> sorted(metrics)
      ['D_loss', 'G_loss']
      >>> game.sample(state, game.noise(jax.random.key(1), 5)).shape
      (5, 2)
    """

    def __init__(self, players: Mapping[str, Any], tx: Mapping[str, optax.GradientTransformation],
                 turns: Sequence[Turn], sample: Callable | None = None, noise: Callable | None = None, *,
                 batch_size: int = 64, sampling: str = "replacement", ema: Mapping[str, float] | None = None,
                 precision: str = "float32", devices: int = 0, headline: Sequence[str] | None = None,
                 transforms: Mapping[str, Transform] | None = None):
        if not isinstance(players, Mapping) or not players:
            raise TypeError(f"players must be a dict {{name: module or factory}}, got {players!r}")
        bad = [n for n in players if not (isinstance(n, str) and n.isidentifier() and not n.startswith("_"))
               or n in NETS_NAMES]
        if bad:
            raise ValueError(f"player names must be identifiers not starting with _ (nets.NAME calls them) and none "
                             f"of {', '.join(sorted(NETS_NAMES))} (what else nets holds), got {bad}")
        turns = tuple(turns)
        if not turns or not all(isinstance(t, Turn) for t in turns):
            raise TypeError("turns must be a non-empty list of gan_jax.Turn(players, loss)")
        for t in turns:
            unknown = [p for p in t.players + t.keeps if p not in players]
            if unknown:
                raise ValueError(f"turn {t.name!r} trains {unknown}, which are not players ({', '.join(players)})")
        names = [t.name for t in turns]
        if len(set(names)) < len(names):
            raise ValueError(f"turns must have distinct names (Turn(..., name=...)), got {names}")
        trained = [p for p in players if any(p in t.players for t in turns)]
        missing = [p for p in trained if p not in tx]
        extra = [p for p in tx if p not in players]
        if missing or extra:
            raise ValueError(f"tx must hold an optax transformation for each trained player: missing {missing}, "
                             f"not players {extra}")
        ema = dict(ema or {})
        for p, decay in ema.items():
            if p not in players or not 0.0 < decay < 1.0:
                raise ValueError(f"ema: {{player: decay in (0, 1)}}, got {p!r}: {decay!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if sampling not in sampling_lib.SAMPLING:
            raise ValueError(f"sampling must be one of {', '.join(sampling_lib.SAMPLING)}, got {sampling!r}")
        if precision not in parallel.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(parallel.PRECISIONS)}, got {precision!r}")
        for what, fn in (("sample", sample), ("noise", noise)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{what} must be a function, got {fn!r}")
        transforms = dict(transforms or {})
        bad = [n for n, t in transforms.items() if not isinstance(t, Transform) or not callable(t.fn)]
        if bad:
            raise TypeError(f"transforms: {{name: gan_jax.Transform(fn, shape)}}, got {bad} as something else")
        self.transforms = {n: Transform(t.fn, tuple(int(d) for d in t.shape)) for n, t in transforms.items()}
        self.players = {name: p if isinstance(p, Player) else Player(p, name) for name, p in players.items()}
        self.tx, self.turns, self.trained, self.ema = dict(tx), turns, tuple(trained), ema
        self.sample_fn, self.noise_fn = sample, noise
        self.batch_size, self.sampling, self.precision = batch_size, sampling, precision
        self.parallel = parallel.DataParallel(devices, (batch_size,))
        self.headline = tuple(headline) if headline is not None else tuple(f"{t.name}_loss" for t in turns)
        self.draws = max(t.repeat for t in turns)

    def __repr__(self) -> str:
        return f"Game(players={list(self.players)}, turns={[t.name for t in self.turns]})"

    plateau = None  # early stopping watches the headline
    compact_data = True  # its batches go through sampling.draw, which turns uint8 pixels back into floats

    @property
    def samples_per_batch(self) -> int:
        return self.batch_size

    @property
    def panels(self) -> tuple[tuple[str, ...], ...]:
        """One curve panel: every turn's loss."""
        return (self.headline,)

    # -- state ---------------------------------------------------------------------------------------

    def init(self, key: jax.Array | int | Streams) -> GameState:
        """A fresh state.

        Args:
          key: a typed key (split into weights, noise and data streams), an int seed, or a `Streams`.

        Returns:
          A GameState at step 0 (jax.vmap over keys gives several seeds).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)])
        >>> game.init(0).params["D"]["linear"]["kernel"].shape
        (2, 1)
        """
        streams = Streams.of(key)
        rngs = nnx.Rngs(streams.params)  # every player's weights from one stream, in the players' order
        params, rest = {}, {}
        for name, player in self.players.items():
            params[name], rest[name] = player.init(rngs)
        return GameState(step=jnp.zeros((), jnp.int32), params=params, rest=rest,
                         opt={p: self.tx[p].init(params[p]) for p in self.trained},
                         ema={p: jax.tree.map(jnp.copy, params[p]) for p in self.ema},
                         key=streams.noise, data_key=streams.data)

    # -- playing -------------------------------------------------------------------------------------

    def nets(self, state: GameState, train: bool = False, averaged: bool = True, key: jax.Array | None = None) -> Nets:
        """The players as functions of `state`, outside a turn (nothing they move is kept).

        Args:
          state: a GameState. train: the players' train flag. averaged: use the moving averages where
            kept. key: reseeds stochastic layers (None: a fixed key).

        Returns:
          `Nets`: `nets.G(z)`, `nets.E.encode(x)`, ...

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)])
        >>> game.nets(game.init(0)).D(jnp.ones((4, 2))).shape
        (4,)
        """
        params = {**state.params, **state.ema} if averaged else state.params
        return Nets(self, params, state.rest, (), train, key)

    def play(self, state: GameState, turn: Turn, batch, key: jax.Array, data_size: int = 0,
             ) -> tuple[GameState, Metrics]:
        """One repeat of `turn`: one optax step of its players per loss; every other player locked.

        Args:
          state: a GameState. turn: any Turn of these players (one of the game's, or one of yours).
          batch: what the loss receives as its batch. key: the turn's key (the loss's `key`; its passes'
            dropout keys are folded from it). data_size: what the losses see as `nets.data_size`.

        Returns:
          (the state with the turn's players updated and their averages moved, the turn's metrics:
          `<name>_loss` and what the losses reported).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)])
        >>> state, m = game.play(game.init(0), game.turns[0], jnp.ones((4, 2)), jax.random.key(0))
        >>> sorted(m)
        ['D_loss']
        """
        names = turn.players
        metrics: Metrics = {}
        total = None
        for j, loss_fn in enumerate(turn.loss):
            pass_key = jax.random.fold_in(key, PASS_SALT + j)

            def objective(trained, loss_fn=loss_fn, pass_key=pass_key):
                nets = Nets(self, {**state.params, **trained}, state.rest, names, True, pass_key, state.step,
                            data_size, turn.keeps)
                value, m = _loss_and_metrics(loss_fn(nets, batch, key), f"turn {turn.name!r}")
                return value, (m, {p: nets.rest[p] for p in names + turn.keeps})

            own = {p: state.params[p] for p in names}
            (value, (m, rest)), grads = jax.value_and_grad(objective, has_aux=True)(own)
            params, opt = dict(state.params), dict(state.opt)
            for p in names:
                updates, opt[p] = self.tx[p].update(grads[p], state.opt[p], state.params[p])
                params[p] = optax.apply_updates(state.params[p], updates)
            state = state.replace(params=params, opt=opt, rest={**state.rest, **rest})
            metrics.update(m)
            total = value if total is None else total + value
        ema = dict(state.ema)
        for p in names:
            if p in ema:
                ema[p] = moving_average(ema[p], state.params[p], self.ema[p], state.step)
        metrics.setdefault(f"{turn.name}_loss", total)
        return state.replace(ema=ema), turn.report(metrics) if turn.report is not None else metrics

    def train_step(self, state: GameState, data) -> tuple[GameState, Metrics]:
        """One step: every turn in order, each `repeat` times, on batches drawn from `data`.

        Args:
          state: a GameState.
          data: the whole dataset on the device (an array, a tuple/dict of arrays of one length,
            `Unpaired`, `Parts`).

        Returns:
          (the state one step on, metrics: each turn's, averaged over its repeats).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss, repeat=2)], batch_size=2)
        >>> state, m = jax.jit(game.train_step)(game.init(0), jnp.ones((8, 2)))
        >>> int(state.step)
        1
        """
        key = jax.random.fold_in(state.key, state.step)
        keys = jax.random.split(key, len(self.turns)) if len(self.turns) > 1 else [key]
        data_size = sampling_lib.size(data)
        batches: dict[int, Any] = {}

        def batch(i: int):
            if i not in batches:
                drawn = sampling_lib.draw(data, state.data_key, state.step, self.batch_size, self.sampling, i,
                                          self.draws)
                batches[i] = jax.tree.map(self.parallel.shard, drawn)
            return batches[i]

        metrics: Metrics = {}
        for turn, turn_key in zip(self.turns, keys):
            repeats = []
            for r in range(turn.repeat):
                k = jax.random.fold_in(turn_key, r) if r else turn_key
                state, m = self.play(state, turn, batch(r + self.draws - turn.repeat), k, data_size)
                repeats.append(m)
            m = repeats[0] if len(repeats) == 1 else jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *repeats)
            clash = sorted(set(m) & set(metrics))
            if clash:
                raise ValueError(f"turn {turn.name!r} reports metrics {clash} that an earlier turn reports too; "
                                 "name them apart")
            metrics.update(m)
        return state.replace(step=state.step + 1), metrics

    # -- samples -------------------------------------------------------------------------------------

    def noise(self, key: jax.Array, n: int):
        """`n` draws of what `sample` takes.

        Args:
          key: a typed key. n: how many.

        Returns:
          The game's `noise(key, n)`.

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)],
        ...             noise=lambda key, n: jax.random.normal(key, (n, 2)))
        >>> game.noise(jax.random.key(0), 3).shape
        (3, 2)
        """
        if self.noise_fn is None:
            raise ValueError("this game has no noise function: give Game(..., noise=lambda key, n: ...)")
        return self.noise_fn(key, n)

    def sample(self, state: GameState, z) -> Any:
        """The game's samples from `z`: `sample(nets, z)` with the players in eval mode and their moving
        averages where kept.

        Args:
          state: a GameState. z: from `noise`.

        Returns:
          What the game's `sample` returns (float32).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)],
        ...             sample=lambda nets, z: nets.D(z), noise=lambda key, n: jnp.ones((n, 2)))
        >>> game.sample(game.init(0), game.noise(jax.random.key(0), 3)).shape
        (3,)
        """
        if self.sample_fn is None:
            raise ValueError("this game has no sample function: give Game(..., sample=lambda nets, z: nets.G(z))")
        return self.sample_fn(self.nets(state), z)

    def transform(self, state: GameState, name: str, x: jax.Array) -> jax.Array:
        """Images mapped by the game's transform `name` (players in eval mode, averages where kept).

        Args:
          state: a GameState. name: one of `transforms`. x: B x H x W x C of its `shape`, in [-1, 1].

        Returns:
          Its output (float32).

        >>> game = Game({"D": _Tiny}, {"D": optax.sgd(0.1)}, [Turn("D", _tiny_loss)],
        ...             transforms={"twice": Transform(lambda nets, x: 2 * x, (2,))})
        >>> game.transform(game.init(0), "twice", jnp.ones((1, 2))).tolist()
        [[2.0, 2.0]]
        """
        if name not in self.transforms:
            raise ValueError(f"this game has no transform {name!r}; it has: {', '.join(self.transforms) or 'none'}")
        t = self.transforms[name]
        if tuple(x.shape[1:]) != t.shape:
            raise ValueError(f"transform {name!r} takes B x {' x '.join(map(str, t.shape))} inputs, got "
                             f"{' x '.join(map(str, x.shape))}")
        return t.fn(self.nets(state), x)


class _Tiny(nnx.Module):
    """A one-layer player for the docstring examples."""

    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 1, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)[:, 0]


def _tiny_loss(nets, x, key):
    return jnp.mean(nets.D(x) ** 2)


def _tiny_game(rate: float = 0.1) -> Game:
    """A one-player game for the docstring examples (a module-level factory, as a recipe must be)."""
    return Game({"D": _Tiny}, {"D": optax.sgd(rate)}, [Turn("D", _tiny_loss)], batch_size=4,
                sample=lambda nets, z: nets.D(z), noise=lambda key, n: jax.random.normal(key, (n, 2)))
