"""The two-player engine: `GAN(generator, discriminator, g_tx, d_tx, loss, z_dim, **settings)`.

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
(`d_ema_decay` one of D's, which a semi-supervised GAN's classifier is tested with); `top_k`
lets G learn only from the fakes D scores highest (Sinha et al. 2020); `pack` is PacGAN's packing.

Batch statistics: a player's running averages move only in its own turn (D's by its passes over the real
and the fake batch in `d_step`, G's by its pass in `g_step`); the other player's passes in a turn use
batch statistics too, and their statistics are dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gan_jax import losses, parallel, sampling

Metrics = dict[str, jax.Array]


class Streams(NamedTuple):
    """The three independent random streams of a run: initial weights, per-step noise, data order.

    `init(key)` splits a single key into these; pass a `Streams` to choose each (the CLI's configs seed
    the weights and the noise from `seed` and the data from `data.seed`: `Streams.from_seeds`).
    """

    params: jax.Array
    noise: jax.Array
    data: jax.Array

    @classmethod
    def of(cls, key: "jax.Array | int | Streams") -> "Streams":
        """`key` as Streams: a Streams as it is; a typed key (or an int seed) split three ways.

        Args:
          key: a typed key, an int seed, or Streams.

        Returns:
          Streams(params, noise, data).

        >>> s = Streams.of(0)
        >>> s.params.shape
        ()
        """
        if isinstance(key, Streams):
            return key
        if isinstance(key, int):
            key = jax.random.key(key)
        if not jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
            raise TypeError(f"init needs a typed key (jax.random.key(seed)), an int seed or a Streams, got "
                            f"{type(key).__name__} {getattr(key, 'dtype', '')}")
        return cls(*jax.random.split(key, 3))

    @classmethod
    def from_seeds(cls, seed: int, data_seed: int) -> "Streams":
        """The config convention: weights and noise from key(seed), batches from key(data_seed).

        Args:
          seed: seeds the weights and the noise. data_seed: the data order.

        Returns:
          Streams.

        >>> Streams.from_seeds(0, 1).data.shape
        ()
        """
        key = jax.random.key(seed)
        return cls(key, key, jax.random.key(data_seed))


def main(tree):
    """The array part of a sample, noise or D output: the first element of a tuple, else itself.

    Args:
      tree: an array, or a tuple (images, labels, ...).

    Returns:
      The array.

    >>> main((jnp.zeros(2), jnp.ones(2))).tolist()
    [0.0, 0.0]
    """
    return tree[0] if isinstance(tree, tuple) else tree


def with_main(tree, x):
    """`tree` with its array part replaced by `x` (the labels of a labelled sample kept).

    Args:
      tree: an array, or a tuple (images, labels, ...). x: the new array part.

    Returns:
      x, or (x, labels, ...).

    >>> with_main((1, 2), 5)
    (5, 2)
    """
    return (x, *tree[1:]) if isinstance(tree, tuple) else x


def _has_rng(state) -> bool:
    return bool(jax.tree.leaves(state))


class Player:
    """A module's static graph and its RNG streams' layout, from a factory `rngs -> module` or an instance.

    `init(rngs)` gives (params, rest): the nnx.Param pytree and every other variable (BatchNorm's running
    averages). RNG streams are not part of the state: `apply` reseeds them from the pass's key.
    """

    def __init__(self, module_or_factory: Callable[..., nnx.Module] | nnx.Module, role: str):
        self.source, self.role = module_or_factory, role
        self.template = self._make(nnx.Rngs(0))
        self.graph, _, rng, self.rest_template = nnx.split(self.template, nnx.Param, nnx.RngState, ...)
        self.rng_template = rng
        self.stochastic = _has_rng(rng)

    def _make(self, rngs: nnx.Rngs) -> nnx.Module:
        if isinstance(self.source, nnx.Module):
            return self.source
        if not callable(self.source):
            raise TypeError(f"{self.role} must be an nnx.Module or a callable rngs -> nnx.Module, got "
                            f"{type(self.source).__name__}")
        module = self.source(rngs=rngs)
        if not isinstance(module, nnx.Module):
            raise TypeError(f"{self.role} factory returned {type(module).__name__}, not an nnx.Module")
        return module

    def init(self, rngs: nnx.Rngs) -> tuple[Any, Any]:
        """A fresh module's variables.

        Args:
          rngs: draws the weights (an instance keeps its own).

        Returns:
          (params, rest): the nnx.Param pytree and the other non-RNG variables.

        >>> import functools
        >>> from gan_jax.models import mlp
        >>> params, rest = Player(functools.partial(mlp.Discriminator, (2,), 4, 1, 0.2), "d").init(nnx.Rngs(0))
        """
        _, params, _, rest = nnx.split(self._make(rngs), nnx.Param, nnx.RngState, ...)
        return params, rest

    def rng_state(self, key: jax.Array | None):
        """The RNG streams for one pass.

        Args:
          key: every stream's key is derived from it (a fixed key when None).

        Returns:
          An nnx State of fresh stream keys and zero counts (empty for a module without streams).

        >>> # rng = player.rng_state(jax.random.fold_in(step_key, pass_id))
        """
        if not self.stochastic:
            return self.rng_template
        key = jax.random.key(0) if key is None else key
        counter = iter(range(1 << 30))

        def fresh(x):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.fold_in(key, next(counter))
            return jnp.zeros_like(x)

        return jax.tree.map(fresh, self.rng_template)

    def merge(self, params, rest, precision: str, key: jax.Array | None = None) -> nnx.Module:
        """The module with these variables, its weights in `precision`, its RNG streams seeded from `key`.

        Args:
          params, rest: its variables. precision: the compute dtype. key: reseeds its RNG streams.

        Returns:
          A module to call. `copy=True`: since flax 0.11.2 merge reuses the given Variables, which then
          cannot be mutated under a `jax.grad` trace (flax issue #5050).

        >>> # vae = player.merge(state.params, player.rest_template, "float32"); vae.encode(x)
        """
        return nnx.merge(self.graph, parallel.compute(params, precision), self.rng_state(key), rest, copy=True)

    def apply(self, params, rest, x: jax.Array, train: bool, precision: str, key: jax.Array | None = None):
        """Runs the module on `x`.

        Args:
          params, rest: its variables. x: the input batch. train: the module's train flag.
          precision: the compute dtype. key: reseeds its RNG streams for this pass.

        Returns:
          (float32 output, the non-parameter variables after the pass: batch statistics' running averages
          move in train mode).

        >>> # logits, new_rest = gan.d.apply(state.d_params, state.d_rest, x, True, "float32", key)
        """
        module = self.merge(params, rest, precision, key)
        out = module(parallel.compute(x, precision), train=train)
        new_rest = nnx.split(module, nnx.Param, nnx.RngState, ...)[3]
        new_rest = jax.tree.map(lambda new, old: new.astype(old.dtype), new_rest, rest)
        out = jax.tree.map(lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a, out)
        return out, new_rest


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
class GANSettings:
    """The engine's hyperparameters (keyword arguments of `GAN`); checked when built.

    z_dim: noise dimension. batch_size: D inputs per real and per fake batch (each holds `pack` samples).
    sampling: "replacement" (the book: a random batch each step) or "epoch" (shuffled epochs).
    d_update: "split" or "joint" (None: split for a SplitLoss, joint otherwise). n_critic: D turns per G
    turn. r1_weight: R1's gamma. gp_weight: WGAN-GP's lambda. ema_decay: 0 = no average of G.
    d_ema_decay: 0 = no average of D (a semi-supervised GAN's classifier is tested with it).
    top_k, top_k_decay: top-k training (1 = off). pack: PacGAN. precision: "float32" or "bfloat16"
    compute. devices: data parallel over this many devices (0 = all).
    """

    z_dim: int = 100
    batch_size: int = 128
    sampling: str = "replacement"
    d_update: str | None = None
    n_critic: int = 1
    r1_weight: float = 0.0
    gp_weight: float = 0.0
    ema_decay: float = 0.0
    d_ema_decay: float = 0.0
    top_k: float = 1.0
    top_k_decay: float = 0.99
    pack: int = 1
    precision: str = "float32"
    devices: int = 0

    def __post_init__(self):
        def need(ok, name, what):
            if not ok:
                raise ValueError(f"{name}: {what}, got {getattr(self, name)!r}")

        for name in ("z_dim", "batch_size", "n_critic", "pack"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "must be an int >= 1")
        need(self.sampling in sampling.SAMPLING, "sampling", f"must be one of {', '.join(sampling.SAMPLING)}")
        need(self.d_update in (None, "split", "joint"), "d_update", "must be split, joint or None")
        need(self.r1_weight >= 0, "r1_weight", "must be >= 0")
        need(self.gp_weight >= 0, "gp_weight", "must be >= 0")
        need(0.0 <= self.ema_decay < 1.0, "ema_decay", "must be in [0, 1)")
        need(0.0 <= self.d_ema_decay < 1.0, "d_ema_decay", "must be in [0, 1)")
        need(0.0 < self.top_k <= 1.0, "top_k", "must be in (0, 1] (1 = off)")
        need(0.0 < self.top_k_decay <= 1.0, "top_k_decay", "must be in (0, 1]")
        need(self.precision in parallel.PRECISIONS, "precision", f"must be one of {', '.join(parallel.PRECISIONS)}")
        need(isinstance(self.devices, int) and self.devices >= 0, "devices", "must be an int >= 0 (0 = all)")


def _averaged(average, params, decay: float, step: jax.Array):
    """A moving average moved one update towards `params`, warmed up as TensorFlow's: its decay is
    min(decay, (1 + t) / (10 + t)) at step t, so early weights fade fast."""
    t = step.astype(jnp.float32)
    return optax.incremental_update(params, average, 1.0 - jnp.minimum(decay, (1.0 + t) / (10.0 + t)))


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
        if s.d_update is None:
            s = dataclasses.replace(s, d_update="split" if split_loss else "joint")
        if s.d_update == "split" and not split_loss:
            raise ValueError(f"d_update: split needs a loss with separate real and fake terms (a losses.SplitLoss); "
                             f"{losses.loss_name(loss)} compares them, so use d_update='joint'")
        if s.top_k < 1.0 and not split_loss:
            raise ValueError("top_k: top-k training needs G's loss per fake (a losses.SplitLoss)")
        state = dict(generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx, loss=loss,
                     noise_fn=noise, settings=s, g=Player(generator, "generator"), d=Player(discriminator, "discriminator"))
        state["parallel"] = parallel.DataParallel(s.devices, (s.batch_size * s.pack,))
        self.__dict__.update(state)
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
            args["d_update"] = None
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
        streams = Streams.of(key)
        rngs = nnx.Rngs(streams.params)  # G's weights first, then D's, from one stream
        g_params, g_rest = self.g.init(rngs)
        d_params, d_rest = self.d.init(rngs)
        return GANState(
            step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params, g_rest=g_rest, d_rest=d_rest,
            g_opt=self.g_tx.init(g_params), d_opt=self.d_tx.init(d_params), key=streams.noise,
            data_key=streams.data,
            g_ema=jax.tree.map(jnp.copy, g_params) if self.settings.ema_decay > 0 else None,
            d_ema=jax.tree.map(jnp.copy, d_params) if self.settings.d_ema_decay > 0 else None,
        )

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

    # -- steps ---------------------------------------------------------------------------------------

    def _d_update(self, state: GANState, loss_fn) -> tuple[GANState, Metrics]:
        """One optax step of D on `loss_fn(d_params, d_rest) -> (loss, (metrics, new d_rest))`."""
        (_, (metrics, d_rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params, state.d_rest)
        updates, d_opt = self.d_tx.update(grads, state.d_opt, state.d_params)
        new_params = optax.apply_updates(state.d_params, updates)
        return state.replace(d_params=new_params, d_opt=d_opt, d_rest=d_rest), metrics

    def _d_real(self, d_params, d_rest, x_real: jax.Array, key):
        """D's loss on a real batch (+ R1); returns (loss, (metrics, d_rest after the pass))."""
        logits, new_rest = self._d(d_params, d_rest, x_real, True, key)
        value = self.loss.real_term(logits)
        metrics = {"d_loss_real": value}
        if self.accuracy:
            metrics["d_acc_real"] = losses.accuracy(logits, 1.0, self.loss.threshold)
        value = self._r1(d_params, d_rest, x_real, key, value, metrics)
        return value, (metrics, new_rest)

    def _r1(self, d_params, d_rest, x_real, key, value, metrics):
        if self.settings.r1_weight > 0:  # through the images only (a labelled sample keeps its labels)
            d_fn = lambda x: main(self._d(d_params, d_rest, with_main(x_real, x), True, key)[0])  # noqa: E731
            metrics["d_r1"] = losses.r1_penalty(d_fn, main(x_real))
            value = value + self.settings.r1_weight * metrics["d_r1"]
        return value

    def _gp(self, d_params, d_rest, x_real, x_fake, key_gp, key, value, metrics):
        if self.settings.gp_weight > 0:  # interpolates of the images, with the real batch's labels
            d_fn = lambda x: main(self._d(d_params, d_rest, with_main(x_real, x), True, key)[0])  # noqa: E731
            metrics["d_gp"] = losses.gradient_penalty(d_fn, main(x_real), main(x_fake), key_gp, self.settings.pack)
            value = value + self.settings.gp_weight * metrics["d_gp"]
        return value

    def _d_fake(self, d_params, d_rest, x_fake: jax.Array, x_real: jax.Array, key_gp, key):
        """D's loss on a fake batch (+ the gradient penalty); returns (loss, (metrics, d_rest))."""
        logits, new_rest = self._d(d_params, d_rest, x_fake, True, key)
        value = self.loss.d_fake(logits)
        metrics = {"d_loss_fake": value}
        if self.accuracy:
            metrics["d_acc_fake"] = losses.accuracy(logits, 0.0, self.loss.threshold)
        value = self._gp(d_params, d_rest, x_real, x_fake, key_gp, key, value, metrics)
        return value, (metrics, new_rest)

    def _pass_keys(self, key: jax.Array | None, n: int) -> list:
        """`n` keys for the stochastic layers of one turn's passes (None when no player has RNG streams)."""
        if key is None or not (self.g.stochastic or self.d.stochastic):
            return [None] * n
        base = jax.random.fold_in(key, 0x5EED)
        return [jax.random.fold_in(base, i) for i in range(n)]

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
        k_g, k_real, k_fake = self._pass_keys(key, 3)
        if self.settings.gp_weight > 0 and key is None:
            raise ValueError("d_step needs a key when gp_weight > 0 (the penalty's interpolates)")
        key_gp = key
        x_fake, _ = self._g(state.g_params, state.g_rest, z, True, k_g)  # G's stats dropped
        if not self.split_loss:
            def joint_general(p, r):
                real_logits, r = self._d(p, r, x_real, True, k_real)
                fake_logits, r = self._d(p, r, x_fake, True, k_fake)
                value = self.loss(real_logits, fake_logits)[0]
                metrics = {"d_loss": value}
                value = self._r1(p, state.d_rest, x_real, k_real, value, metrics)
                value = self._gp(p, state.d_rest, x_real, x_fake, key_gp, k_fake, value, metrics)
                return value, (metrics, r)

            state, metrics = self._d_update(state, joint_general)
            return self._d_moved(state), metrics
        if self.settings.d_update == "split":
            state, m_real = self._d_update(state, lambda p, r: self._d_real(p, r, x_real, k_real))
            state, m_fake = self._d_update(state, lambda p, r: self._d_fake(p, r, x_fake, x_real, key_gp, k_fake))
            metrics = {**m_real, **m_fake}
        else:

            def joint(p, r):
                loss_real, (m_real, r) = self._d_real(p, r, x_real, k_real)
                loss_fake, (m_fake, r) = self._d_fake(p, r, x_fake, x_real, key_gp, k_fake)
                return loss_real + loss_fake, ({**m_real, **m_fake}, r)

            state, metrics = self._d_update(state, joint)
        metrics["d_loss"] = 0.5 * (metrics["d_loss_real"] + metrics["d_loss_fake"])
        if self.accuracy:
            metrics["d_acc"] = 0.5 * (metrics["d_acc_real"] + metrics["d_acc_fake"])
        return self._d_moved(state), metrics

    def _d_moved(self, state: GANState) -> GANState:
        """The state with D's moving average moved towards D's new weights (as is when none is kept)."""
        if state.d_ema is None:
            return state
        return state.replace(d_ema=_averaged(state.d_ema, state.d_params, self.settings.d_ema_decay, state.step))

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
        k_g, k_fake, k_real = self._pass_keys(key, 3)

        def loss(g_params):
            x_fake, g_rest = self._g(g_params, state.g_rest, z, True, k_g)
            fake_logits, _ = self._d(state.d_params, state.d_rest, x_fake, True, k_fake)  # D's stats dropped
            if self.split_loss:
                return self._g_loss_top(fake_logits, share), g_rest
            real_logits, _ = self._d(state.d_params, state.d_rest, x_real, True, k_real)
            return self.loss(real_logits, fake_logits)[1], g_rest

        (value, g_rest), grads = jax.value_and_grad(loss, has_aux=True)(state.g_params)
        updates, g_opt = self.g_tx.update(grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, updates)
        g_ema = state.g_ema
        if g_ema is not None:
            g_ema = _averaged(g_ema, g_params, self.settings.ema_decay, state.step)
        return state.replace(g_params=g_params, g_opt=g_opt, g_rest=g_rest, g_ema=g_ema), {"g_loss": value}

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
        """One iteration: n_critic D turns, each on a real batch drawn from `images`, then G's turn.

        Args:
          state: a GANState.
          images: the whole dataset on the device, N x ... (images N x H x W x C in [-1, 1]), or a tuple of
            such arrays of the same length N ((images, labels) for a conditional GAN); each turn draws its
            batch from it with `batch_indices`.

        Returns:
          (the state one step on, metrics: scalars; D's are means over its turns).

        >>> # state, metrics = gj.jit(gan.train_step, donate_argnums=0)(state, images)
        """
        key = jax.random.fold_in(state.key, state.step)
        k_d, k_g = jax.random.split(key)
        b = self.samples_per_batch
        p = self.parallel
        turns = []
        x_real = None
        n = sampling.size(images)
        for turn in range(self.settings.n_critic):
            k = jax.random.fold_in(k_d, turn) if turn else k_d
            if self.settings.gp_weight > 0:
                k, k_turn = jax.random.split(k)
            else:
                k_turn = jax.random.fold_in(k, 1)  # only the stochastic layers read it
            x_real = jax.tree.map(p.shard, sampling.draw(images, state.data_key, state.step, b,
                                                         self.settings.sampling, turn, self.settings.n_critic))
            state, m = self.d_step(state, x_real, jax.tree.map(p.shard, self.noise(k, b)), k_turn)
            turns.append(m)
        d_metrics = turns[0] if len(turns) == 1 else jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *turns)
        share = self.top_k_share(state.step, n)
        state, g_metrics = self.g_step(state, jax.tree.map(p.shard, self.noise(k_g, b)), x_real, share,
                                       jax.random.fold_in(k_g, 1))
        return state.replace(step=state.step + 1), {**d_metrics, **g_metrics}
