"""The GAN preset: `GAN(generator, discriminator, g_tx, d_tx, loss, z_dim, **settings)`, a two-player
`gan_jax.game.Game` (`gan.game`) of D's turn (`d_turn`, n_critic repeats) and G's (`g_turn`).

Any Flax NNX modules can play, under this contract:

- the generator maps a batch of noise B x z_dim to samples (for images B x H x W x C in [-1, 1]);
- the discriminator maps a batch of samples (B * pack of them with PacGAN packing) to one logit per D
  input, shape (B,);
- samples, noise and D's outputs may be tuples whose first element is the array above: a conditional GAN's
  samples are (images, labels), its noise (z, labels) (`noise=gan_jax.conditional.LabelledNoise(...)`),
  and the dataset is the tuple (images, labels) of the same length; G passes the labels through, D
  judges the pair, and the penalties (R1, gradient penalty) differentiate the images only. A D output
  tuple (an auxiliary classifier's logits beside the logit) goes to the loss whole;
- both are called `module(x, train=bool)`: train=True in training passes (BatchNorm normalises by the
  batch and moves its running averages; dropout is on), train=False for sampling and `discriminate`;
- each is given as a factory `rngs -> module` (a class taking `rngs=`, or a `functools.partial` of
  one), so that `init(key)` draws fresh weights; a module instance is used with the weights it has.

The engine is an immutable value: its settings (`GAN.settings`, a frozen dataclass) are fixed at
construction, and `replace(**changes)` makes a new engine. Its methods are pure functions of a
`GANState` pytree:

    gan = GAN(G, D, optax.adam(2e-4, b1=0.5), optax.adam(2e-4, b1=0.5), loss=losses.hinge, z_dim=64)
    state = gan.init(jax.random.key(0))
    state, metrics = jax.jit(gan.train_step)(state, images)   # images: the dataset, N x H x W x C
    x = gan.sample(state, gan.noise(jax.random.key(1), 16))

Each player differentiates only its own parameters: in `d_step` G's parameters enter as constants, in
`g_step` D's do, and each player has its own optax state. Randomness is explicit: the step's key is
`fold_in(state.key, state.step)`, split into D's and G's noise; real batches come from
`fold_in(state.data_key, state.step)` (`gan_jax.sampling`), so resuming needs no saved RNG stream. Any
nnx RNG stream inside a player (dropout) is reseeded from the step's key before every pass, a distinct
key per pass (D on the real batch, D on the fake batch, G in D's turn, G and D in G's turn).

One iteration (`train_step`): `n_critic` D turns, each on a fresh real batch drawn from the dataset and a
fresh fake batch, then G's turn. With a `losses.SplitLoss` (the book's family) D's turn is by default the
book's: an optax step on the real batch, then one on the fake batch (`d_update="split"`; "joint" takes
one step on the sum); any other loss (relativistic ones) takes one joint step, and G's turn also shows D
the last real batch. `r1_weight` and `gp_weight` regularise D; `ema_decay` keeps an exponential moving
average of G's weights (decay min(ema_decay, (1 + t) / (10 + t)) at step t) that `sample` uses
(`d_ema_decay` one of D's, which a D that classifies is scored with); `top_k`
lets G learn only from the fakes D scores highest (Sinha et al. 2020); `pack` is PacGAN's packing.

Batch statistics: a player's running averages move only in its own turn (D's by its passes over the real
and the fake batch in `d_step`, G's by its pass in `g_step`); the other player's passes in a turn use
batch statistics too, and their statistics are dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gan_jax import losses, parallel, sampling
from gan_jax.config import GANRules
from gan_jax.game import Game, GameState, Turn
from gan_jax.players import Player, Streams, main, moving_average, with_main  # noqa: F401 (re-exported)

Metrics = dict[str, jax.Array]


@struct.dataclass
class GANState:
    """Everything that changes during training; a pytree, saved whole in checkpoints.

    `g_rest` / `d_rest` hold each player's non-parameter variables (BatchNorm's running averages; empty
    for the MLP players). `g_ema` is the moving average of `g_params` (None when ema_decay = 0), `d_ema`
    that of `d_params` (None when d_ema_decay = 0).
    `key` seeds the per-step noise, `data_key` the per-step batches.
    """

    step: jax.Array
    g_params: Any
    d_params: Any
    g_rest: Any
    d_rest: Any
    g_opt: Any
    d_opt: Any
    key: jax.Array
    data_key: jax.Array
    g_ema: Any = None
    d_ema: Any = None


@dataclasses.dataclass(frozen=True)
class GANSettings(GANRules):
    """The engine's settings (keyword arguments of `GAN`), checked when built: the game's rules
    (`gan_jax.config.GANRules`: d_update, n_critic, r1_weight, gp_weight, ema_decay, d_ema_decay, top_k,
    top_k_decay, pack; shared with a config's `gan` section) and how it runs.

    z_dim: noise dimension. batch_size: D inputs per real and per fake batch (each holds `pack` samples).
    sampling: "replacement" (the book: a random batch each step) or "epoch" (shuffled epochs).
    precision: "float32" or "bfloat16" compute. devices: data parallel over this many devices (0 = all).
    """

    z_dim: int = 100
    batch_size: int = 128
    sampling: str = "replacement"
    precision: str = "float32"
    devices: int = 0

    def __post_init__(self):
        super().__post_init__()

        def need(ok, name, what):
            if not ok:
                raise ValueError(f"{name}: {what}, got {getattr(self, name)!r}")

        for name in ("z_dim", "batch_size"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "must be an int >= 1")
        need(self.sampling in sampling.SAMPLING, "sampling", f"must be one of {', '.join(sampling.SAMPLING)}")
        need(self.precision in parallel.PRECISIONS, "precision", f"must be one of {', '.join(parallel.PRECISIONS)}")
        need(isinstance(self.devices, int) and self.devices >= 0, "devices", "must be an int >= 0 (0 = all)")


class GAN:
    """The two-player engine (see the module docstring for the players' contract).

    Args:
      generator: factory `rngs -> nnx.Module` (or a module) mapping B x z_dim noise to samples.
      discriminator: factory (or module) mapping samples to one logit per D input.
      g_tx, d_tx: each player's optax transformation.
      loss: `loss(real_logits, fake_logits) -> (d_loss, g_loss)`; a `losses.SplitLoss` (default: the
        book's non-saturating loss) allows the split D update, D accuracy and top-k.
      z_dim: noise dimension.
      noise: `noise(key, n) -> G's input batch` (default: N(0, I) of dimension z_dim);
        `gan_jax.conditional.LabelledNoise` draws (z, labels) for a conditional GAN.
      **settings: the other `GANSettings` fields (batch_size, r1_weight, ema_decay, n_critic, pack, ...).

    Example:
      >>> import functools, optax
      >>> from gan_jax.models import mlp
      >>> G = functools.partial(mlp.Generator, 8, (4, 4, 1), 16, 1, 0.2)
      >>> D = functools.partial(mlp.Discriminator, (4, 4, 1), 16, 1, 0.2)
      >>> gan = GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=8, batch_size=4)
      >>> state = gan.init(jax.random.key(0))
      >>> state, metrics = jax.jit(gan.train_step)(state, jnp.zeros((16, 4, 4, 1)))
      >>> sorted(metrics)[:3]
      ['d_acc', 'd_acc_fake', 'd_acc_real']
    """

    def __init__(self, generator, discriminator, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, loss: losses.Loss = losses.non_saturating, z_dim: int = 100,
                 noise: Callable | None = None, **settings):
        unknown = set(settings) - {f.name for f in dataclasses.fields(GANSettings)}
        if unknown:
            raise TypeError(f"GAN got unknown settings {sorted(unknown)}; valid: "
                            f"{', '.join(f.name for f in dataclasses.fields(GANSettings))}")
        if noise is not None and not callable(noise):
            raise TypeError(f"noise must be a function (key, n) -> G's input batch, got {noise!r}")
        if not callable(loss):
            raise TypeError(f"loss must be a function (real_logits, fake_logits) -> (d_loss, g_loss), got {loss!r}")
        split_loss = isinstance(loss, losses.SplitLoss)
        s = GANSettings(z_dim=z_dim, **settings)
        if s.d_update == "auto":
            s = dataclasses.replace(s, d_update="split" if split_loss else "joint")
        if s.d_update == "split" and not split_loss:
            raise ValueError(f"d_update: split needs a loss with separate real and fake terms (a losses.SplitLoss); "
                             f"{losses.loss_name(loss)} compares them, so use d_update='joint'")
        if s.top_k < 1.0 and not split_loss:
            raise ValueError("top_k: top-k training needs G's loss per fake (a losses.SplitLoss)")
        self.__dict__.update(generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx, loss=loss,
                             noise_fn=noise, settings=s, g=Player(generator, "generator"),
                             d=Player(discriminator, "discriminator"))
        ema = {name: decay for name, decay in (("G", s.ema_decay), ("D", s.d_ema_decay)) if decay > 0}
        # the game: D's turn (n_critic repeats), then G's; its data parallel splits each batch of samples
        self.__dict__["game"] = Game({"G": self.g, "D": self.d}, {"G": g_tx, "D": d_tx}, [self.d_turn(), self.g_turn()],
                                     noise=self.noise, batch_size=self.samples_per_batch, sampling=s.sampling, ema=ema,
                                     precision=s.precision, devices=s.devices)
        self.__dict__["parallel"] = self.game.parallel
        self._check_players()

    def _check_players(self) -> None:
        """Traces G on noise and D on G's samples (shapes only, nothing computed) so a player that breaks
        the contract fails here, with its role named, rather than inside a compiled step."""
        s = self.settings
        n = 2 * s.pack
        (g_params, g_rest), (d_params, d_rest) = jax.eval_shape(
            lambda: (self.g.init(nnx.Rngs(0)), self.d.init(nnx.Rngs(1))))
        z = jax.eval_shape(lambda: self.noise(jax.random.key(0), n))
        shapes = lambda tree: jax.tree.map(lambda a: a.shape, tree)  # noqa: E731
        try:
            x = jax.eval_shape(lambda p, r, z: self._g(p, r, z, True)[0], g_params, g_rest, z)
        except Exception as e:
            raise ValueError(f"generator: calling it as G(z, train=True) on noise of shape {shapes(z)} (z_dim="
                             f"{s.z_dim}) failed: {type(e).__name__}: {e}") from None
        try:
            logits = jax.eval_shape(lambda p, r, x: self._d(p, r, x, True)[0], d_params, d_rest, x)
        except Exception as e:
            raise ValueError(f"discriminator: calling it as D(x, train=True) on G's samples of shape {shapes(x)} "
                             f"failed: {type(e).__name__}: {e}") from None
        if main(logits).shape != (2,):
            raise ValueError(f"discriminator: must return one logit per D input, shape (B,): on {n} samples "
                             f"(pack={s.pack}) it returned shape {shapes(logits)}")

    def __setattr__(self, name, value):
        raise AttributeError(f"a GAN is immutable (its settings are fixed when built); use gan.replace({name}=...)")

    def replace(self, **changes) -> "GAN":
        """A new engine with some arguments changed (generator, loss, z_dim, r1_weight, ...).

        >>> # gan.replace(r1_weight=1.0) is another engine; gan itself is unchanged
        """
        args = dict(generator=self.generator, discriminator=self.discriminator, g_tx=self.g_tx, d_tx=self.d_tx,
                    loss=self.loss, noise=self.noise_fn, **dataclasses.asdict(self.settings))
        if "loss" in changes and "d_update" not in changes:
            args["d_update"] = "auto"
        args.update(changes)
        return GAN(**args)

    @property
    def split_loss(self) -> bool:
        return isinstance(self.loss, losses.SplitLoss)

    @property
    def headline(self) -> tuple[str, ...]:
        """The metrics a log line shows: the losses, and D's accuracy where the loss defines one."""
        return ("d_loss", "g_loss", "d_acc") if self.accuracy else ("d_loss", "g_loss")

    plateau = ("d_loss", "g_loss")  # what early stopping watches
    compact_data = True  # its batches go through sampling.draw, which turns uint8 pixels back into floats
    panels = (("d_loss", "g_loss"), ("d_acc_real", "d_acc_fake", "d_acc"), ("d_loss_real", "d_loss_fake"))

    @property
    def accuracy(self) -> bool:
        return self.split_loss and self.loss.threshold is not None

    @property
    def samples_per_batch(self) -> int:
        """Samples in each real and each fake batch: batch_size D inputs of `pack` samples."""
        return self.settings.batch_size * self.settings.pack

    # -- state ---------------------------------------------------------------------------------------

    def init(self, key: jax.Array | int | Streams) -> GANState:
        """A fresh state.

        Args:
          key: a typed key (split into weights, noise and data streams), an int seed, or a `Streams`.

        Returns:
          A GANState at step 0 (jax.vmap over keys gives several seeds at once).

        >>> # state = gan.init(jax.random.key(0))
        """
        return self.gan_state(self.game.init(key))  # G's weights first, then D's, from one stream

    # -- the players as pure functions ---------------------------------------------------------------

    def _g(self, params, rest, z, train, key=None):
        return self.g.apply(params, rest, z, train, self.settings.precision, key)

    def _d(self, params, rest, x, train, key=None):
        return self.d.apply(params, rest, x, train, self.settings.precision, key)

    def generate(self, g_params, g_rest, z_BxZ: jax.Array) -> jax.Array:
        """G in eval mode (running averages, nothing updated).

        Args:
          g_params, g_rest: G's parameters and other variables (from a GANState).
          z_BxZ: noise.

        Returns:
          B samples, float32.

        >>> # x = gan.generate(state.g_params, state.g_rest, gan.noise(key, 16))
        """
        return self._g(g_params, g_rest, z_BxZ, False)[0]

    def discriminate(self, d_params, d_rest, x_BxHxWxC: jax.Array) -> jax.Array:
        """D's logits in eval mode (running averages, nothing updated).

        Args:
          d_params, d_rest: D's parameters and other variables.
          x_BxHxWxC: samples (B * pack of them).

        Returns:
          B logits.

        >>> # logits = gan.discriminate(state.d_params, state.d_rest, images[:16])
        """
        return self._d(d_params, d_rest, x_BxHxWxC, False)[0]

    def sample(self, state: GANState, z_BxZ: jax.Array) -> jax.Array:
        """Samples for grids and export: G in eval mode, with its moving-average weights if kept.

        Args:
          state: a GANState.
          z_BxZ: noise (`noise(key, n)`).

        Returns:
          B samples, float32 (images in [-1, 1] for the image players).

        >>> # x = jax.jit(gan.sample)(state, gan.noise(jax.random.key(1), 16))
        """
        return self.generate(state.g_params if state.g_ema is None else state.g_ema, state.g_rest, z_BxZ)

    def noise(self, key: jax.Array, n: int) -> jax.Array:
        """`n` draws of G's input: the `noise` function given, else N(0, I) of dimension z_dim.

        Args:
          key: a typed key. n: how many.

        Returns:
          n x z_dim float32 (or what the `noise` function returns, e.g. (z, labels)).

        >>> # z = gan.noise(jax.random.key(1), 16)
        """
        if self.noise_fn is not None:
            return self.noise_fn(key, n)
        return jax.random.normal(key, (n, self.settings.z_dim), jnp.float32)

    def grid_noise(self, key: jax.Array, n: int):
        """G's input for a preview grid of about `n` samples, and the grid's columns: for labelled noise
        (`gan_jax.conditional.LabelledNoise`) one row per class, else `noise(key, n)` in a square.

        Args:
          key: a typed key. n: samples wanted (a conditional grid has one row per class instead).

        Returns:
          (noise, columns or None).

        >>> # z, cols = gan.grid_noise(jax.random.key(1234), 16)
        """
        grid = getattr(self.noise_fn, "grid", None)
        return grid(key) if grid is not None else (self.noise(key, n), None)

    # -- the game: D's turn and G's turn -------------------------------------------------------------

    def _pass_keys(self, key: jax.Array | None, n: int) -> list:
        """`n` keys for the stochastic layers of one turn's passes (None when no player has RNG streams)."""
        if key is None or not (self.g.stochastic or self.d.stochastic):
            return [None] * n
        base = jax.random.fold_in(key, 0x5EED)
        return [jax.random.fold_in(base, i) for i in range(n)]

    def _d_inputs(self, nets, key: jax.Array, given):
        """D's turn's noise, penalty key and pass keys (G, real, fake): drawn from the repeat's key, or given
        as (z, key) by `d_step`."""
        if given is not None:
            z, k_turn = given
        else:
            if self.settings.gp_weight > 0:
                key, k_turn = jax.random.split(key)
            else:
                k_turn = jax.random.fold_in(key, 1)  # only the stochastic layers read it
            z = nets.noise(key, self.samples_per_batch)
        return z, k_turn, self._pass_keys(k_turn, 3)

    def _d_real(self, nets, x_real, k_real) -> tuple[jax.Array, Metrics]:
        """D's loss on a real batch (+ R1)."""
        logits = nets.D.using(key=k_real)(x_real)
        value = self.loss.real_term(logits)
        metrics = {"d_loss_real": value}
        if self.accuracy:
            metrics["d_acc_real"] = losses.accuracy(logits, 1.0, self.loss.threshold)
        return self._r1(nets, x_real, k_real, value, metrics), metrics

    def _r1(self, nets, x_real, key, value, metrics):
        if self.settings.r1_weight > 0:  # through the images only (a labelled sample keeps its labels)
            d = nets.D.using(key=key, keep_stats=False)
            metrics["d_r1"] = losses.r1_penalty(lambda x: main(d(with_main(x_real, x))), main(x_real))
            value = value + self.settings.r1_weight * metrics["d_r1"]
        return value

    def _gp(self, nets, x_real, x_fake, key_gp, key, value, metrics):
        if self.settings.gp_weight > 0:  # interpolates of the images, with the real batch's labels
            d = nets.D.using(key=key, keep_stats=False)
            metrics["d_gp"] = losses.gradient_penalty(lambda x: main(d(with_main(x_real, x))), main(x_real),
                                                      main(x_fake), key_gp, self.settings.pack)
            value = value + self.settings.gp_weight * metrics["d_gp"]
        return value

    def _d_fake(self, nets, x_fake, x_real, key_gp, k_fake) -> tuple[jax.Array, Metrics]:
        """D's loss on a fake batch (+ the gradient penalty)."""
        logits = nets.D.using(key=k_fake)(x_fake)
        value = self.loss.d_fake(logits)
        metrics = {"d_loss_fake": value}
        if self.accuracy:
            metrics["d_acc_fake"] = losses.accuracy(logits, 0.0, self.loss.threshold)
        return self._gp(nets, x_real, x_fake, key_gp, k_fake, value, metrics), metrics

    def d_turn(self, given=None) -> Turn:
        """D's turn as a `gan_jax.Turn` of this game (`repeat=n_critic`).

        Args:
          given: None (train_step: the noise and keys come from the turn's key), or (z, key) (`d_step`).

        Returns:
          The Turn: with d_update="split", two losses (real, then fake: two optax steps); else one.

        >>> gan = _tiny()
        >>> state, m = gan.game.play(gan.game.init(0), gan.d_turn(), jnp.zeros((4, 4, 4, 1)), jax.random.key(1))
        >>> sorted(m)[:3]
        ['d_acc', 'd_acc_fake', 'd_acc_real']
        """
        def real(nets, x_real, key):
            _, _, (_, k_real, _) = self._d_inputs(nets, key, given)
            return self._d_real(nets, x_real, k_real)

        def fake(nets, x_real, key):
            z, k_turn, (k_g, _, k_fake) = self._d_inputs(nets, key, given)
            x_fake = nets.G.using(key=k_g)(z)  # G is locked: its statistics are dropped
            return self._d_fake(nets, x_fake, x_real, k_turn, k_fake)

        def joint(nets, x_real, key):
            z, k_turn, (k_g, k_real, k_fake) = self._d_inputs(nets, key, given)
            x_fake = nets.G.using(key=k_g)(z)
            if not self.split_loss:  # a loss comparing real and fake logits
                real_logits = nets.D.using(key=k_real)(x_real)
                fake_logits = nets.D.using(key=k_fake)(x_fake)
                value = self.loss(real_logits, fake_logits)[0]
                metrics = {"d_loss": value}
                value = self._r1(nets, x_real, k_real, value, metrics)
                return self._gp(nets, x_real, x_fake, k_turn, k_fake, value, metrics), metrics
            loss_real, m_real = self._d_real(nets, x_real, k_real)
            loss_fake, m_fake = self._d_fake(nets, x_fake, x_real, k_turn, k_fake)
            return loss_real + loss_fake, {**m_real, **m_fake}

        split = self.settings.d_update == "split"
        return Turn("D", (real, fake) if split else joint, repeat=self.settings.n_critic, name="d",
                    report=self._d_report)

    def _d_report(self, metrics: Metrics) -> Metrics:
        """D's metrics: with a SplitLoss, d_loss is the mean of its real and fake terms (penalties apart)."""
        if self.split_loss:
            metrics["d_loss"] = 0.5 * (metrics["d_loss_real"] + metrics["d_loss_fake"])
            if self.accuracy:
                metrics["d_acc"] = 0.5 * (metrics["d_acc_real"] + metrics["d_acc_fake"])
        return metrics

    def d_step(self, state: GANState, x_real: jax.Array, z: jax.Array, key: jax.Array | None = None,
               ) -> tuple[GANState, Metrics]:
        """D's turn on a real batch and G(z); G's params are constants.

        Args:
          state: a GANState.
          x_real: a real batch (samples_per_batch samples).
          z: noise for the fake batch.
          key: draws the gradient penalty's interpolates and the stochastic layers' masks (needed when
            gp_weight > 0; optional otherwise).

        Returns:
          (state with D updated, metrics: d_loss and its parts, D's accuracies, penalties).

        With d_update="split" two optax steps (real, then fake), with "joint" one on their sum.

        >>> # state, m = jax.jit(gan.d_step)(state, x_real, gan.noise(k, gan.samples_per_batch), k_gp)
        """
        if self.settings.gp_weight > 0 and key is None:
            raise ValueError("d_step needs a key when gp_weight > 0 (the penalty's interpolates)")
        turn = self.d_turn((z, key))
        game_state, metrics = self.game.play(self.game_state(state), turn, x_real, _or_fixed(key))
        return self.gan_state(game_state), metrics

    def top_k_share(self, step: jax.Array, n_images: int) -> jax.Array:
        """The share of G's fakes it learns from at `step` (top-k training).

        Args:
          step: the iteration. n_images: the dataset's size (an epoch is that many real samples).

        Returns:
          top_k_decay ** epoch, floored at top_k; 1 when top-k training is off.

        >>> # float(gan.replace(top_k=0.5).top_k_share(jnp.asarray(0), 4000))  -> 1.0
        """
        s = self.settings
        if s.top_k == 1.0:
            return jnp.ones(())
        epoch = (step * self.samples_per_batch) // n_images
        return jnp.maximum(s.top_k_decay ** epoch.astype(jnp.float32), s.top_k)

    def _g_loss_top(self, logits: jax.Array, share: jax.Array) -> jax.Array:
        """G's loss on the `share` of D's outputs that D scores highest: every SplitLoss's G term is a mean
        over D's outputs, so this is that mean over the top ceil(share * n)."""
        if self.settings.top_k == 1.0:
            return self.loss.g(logits)
        logits = logits.reshape(-1)
        per_input = jax.vmap(lambda l: self.loss.g(l[None]))(logits)
        k = jnp.ceil(share * logits.shape[0] - 1e-6)
        kept = jnp.argsort(jnp.argsort(-logits)) < k  # rank 0 = the fake D finds most real
        return jnp.sum(jnp.where(kept, per_input, 0.0)) / k

    def g_turn(self, given=None) -> Turn:
        """G's turn as a `gan_jax.Turn` of this game.

        Args:
          given: None (train_step: noise, keys and top-k share from the turn's key and the step), or
            (z, share, key) (`g_step`).

        Returns:
          The Turn: one loss through D, whose parameters and statistics are locked.

        >>> gan = _tiny()
        >>> state, m = gan.game.play(gan.game.init(0), gan.g_turn(), jnp.zeros((4, 4, 4, 1)), jax.random.key(1))
        >>> sorted(m)
        ['g_loss']
        """
        def loss(nets, x_real, key):
            if given is not None:
                z, share, k_turn = given
            else:
                z, k_turn = nets.noise(key, self.samples_per_batch), jax.random.fold_in(key, 1)
                share = self.top_k_share(nets.step, nets.data_size)
            k_g, k_fake, k_real = self._pass_keys(k_turn, 3)
            x_fake = nets.G.using(key=k_g)(z)
            fake_logits = nets.D.using(key=k_fake)(x_fake)  # D's statistics dropped
            if self.split_loss:
                return self._g_loss_top(fake_logits, share)
            real_logits = nets.D.using(key=k_real)(x_real)
            return self.loss(real_logits, fake_logits)[1]

        return Turn("G", loss, name="g")

    def g_step(self, state: GANState, z: jax.Array, x_real: jax.Array | None = None, share: jax.Array | float = 1.0,
               key: jax.Array | None = None) -> tuple[GANState, Metrics]:
        """G's turn: an optax step on G's loss through D; D's params (and statistics) are constants.

        Args:
          state: a GANState.
          z: noise for G's fakes.
          x_real: a real batch; needed by losses that compare real and fake (not a SplitLoss).
          share: top-k training's share of fakes (1 = all).
          key: for the stochastic layers' masks (optional).

        Returns:
          (state with G updated and its moving average moved, {"g_loss": ...}).

        >>> # state, m = jax.jit(gan.g_step)(state, gan.noise(k, gan.samples_per_batch))
        """
        if not self.split_loss and x_real is None:
            raise ValueError(f"g_step needs x_real: {losses.loss_name(self.loss)} compares real and fake logits")
        game_state, metrics = self.game.play(self.game_state(state), self.g_turn((z, share, key)), x_real,
                                             _or_fixed(key))
        return self.gan_state(game_state), metrics

    def batch_indices(self, state: GANState, n: int, turn: int = 0) -> jax.Array:
        """Indices of the real batch for D's `turn` (of n_critic) of this step (`gan_jax.sampling`).

        Args:
          state: a GANState (its data_key and step). n: the dataset's size. turn: D's turn.

        Returns:
          samples_per_batch int32 indices into the dataset.

        >>> # x_real = images[gan.batch_indices(state, len(images))]
        """
        s = self.settings
        return sampling.batch_indices(state.data_key, state.step, n, self.samples_per_batch, s.sampling, turn,
                                      s.n_critic)

    def train_step(self, state: GANState, images) -> tuple[GANState, Metrics]:
        """One iteration of the game: n_critic D turns, each on a real batch drawn from `images`, then G's.

        Args:
          state: a GANState.
          images: the whole dataset on the device, N x ... (images N x H x W x C in [-1, 1]), or a tuple of
            such arrays of the same length N ((images, labels) for a conditional GAN); each D turn draws its
            batch from it (`batch_indices`), and G's turn sees the last one.

        Returns:
          (the state one step on, metrics: scalars; D's are means over its turns).

        >>> # state, metrics = gj.jit(gan.train_step, donate_argnums=0)(state, images)
        """
        game_state, metrics = self.game.train_step(self.game_state(state), images)
        return self.gan_state(game_state), metrics

    # -- the state as the game's ---------------------------------------------------------------------

    def game_state(self, state: GANState) -> GameState:
        """The GANState as its game's state (the same arrays, named by player).

        Args:
          state: a GANState.

        Returns:
          A GameState with players "G" and "D".

        >>> gan = _tiny()
        >>> gan.game.nets(gan.game_state(gan.init(0))).D(jnp.zeros((3, 4, 4, 1))).shape
        (3,)
        """
        ema = {name: e for name, e in (("G", state.g_ema), ("D", state.d_ema)) if e is not None}
        return GameState(step=state.step, params={"G": state.g_params, "D": state.d_params},
                         rest={"G": state.g_rest, "D": state.d_rest}, opt={"G": state.g_opt, "D": state.d_opt},
                         ema=ema, key=state.key, data_key=state.data_key)

    def gan_state(self, state: GameState) -> GANState:
        """The game's state as a GANState (the layout of checkpoints and of every reader of GAN runs).

        Args:
          state: a GameState of this GAN's game.

        Returns:
          The GANState.

        >>> gan = _tiny()
        >>> gan.gan_state(gan.game.init(0)).g_ema is None
        True
        """
        return GANState(step=state.step, g_params=state.params["G"], d_params=state.params["D"],
                        g_rest=state.rest["G"], d_rest=state.rest["D"], g_opt=state.opt["G"], d_opt=state.opt["D"],
                        key=state.key, data_key=state.data_key, g_ema=state.ema.get("G"), d_ema=state.ema.get("D"))


def _tiny() -> GAN:
    """A GAN of tiny MLP players on 4 x 4 images, for the docstring examples."""
    import functools

    from gan_jax.models import mlp

    return GAN(functools.partial(mlp.Generator, 8, (4, 4, 1), 16, 1, 0.2),
               functools.partial(mlp.Discriminator, (4, 4, 1), 16, 1, 0.2), optax.adam(1e-3), optax.adam(1e-3),
               z_dim=8, batch_size=4)


def _or_fixed(key: jax.Array | None) -> jax.Array:
    """A turn's key for `d_step`/`g_step` called without one (its passes take their keys explicitly)."""
    return jax.random.key(0) if key is None else key
