"""The two-player engine: a state pytree and pure, jitted `d_step`, `g_step` and `train_step`.

The NNX modules are split once into a static graph definition and pytrees (`nnx.split`); every step
merges them back inside the traced function, so a step is a pure `(state, ...) -> (state, metrics)`.

Each player differentiates only its own parameters: in `d_step` G's parameters enter as constants, in
`g_step` D's do, and each player has its own optax state. Randomness is explicit: the step's noise key is
`fold_in(state.key, state.step)` split into named keys (`z_d` for D's fake batch, `z_g` for G's), and the
real batch is drawn from `fold_in(state.data_key, state.step)`, so resuming needs no saved RNG stream and
the data order is part of the (seeded) computation.

One iteration is the book's: D takes an Adam step on a real batch, then another on a fake batch, then G
takes an Adam step through the frozen D with the fakes labelled "real" (the non-saturating loss; the
minimax loss is the alternative). With PacGAN packing (`gan.pack` = m), every batch holds B * m samples
and D judges them m at a time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gan_jax import losses, models
from gan_jax.config import Config

Metrics = dict[str, jax.Array]


@struct.dataclass
class GANState:
    """Everything that changes during training; a pytree, saved whole in checkpoints.

    `g_rest` / `d_rest` hold each player's non-parameter variables (e.g. BatchNorm statistics; empty
    for the MLP players). `key` seeds the per-step noise, `data_key` the per-step batch.
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


class GAN:
    """Binds a config to the players' graph definitions and optimisers; its methods are pure."""

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...]):
        self.cfg = cfg
        self.sample_shape = tuple(sample_shape)
        g, d = models.build(cfg.model, self.sample_shape, seed=0, pack=cfg.gan.pack)
        self.g_graph, _, _ = nnx.split(g, nnx.Param, ...)
        self.d_graph, _, _ = nnx.split(d, nnx.Param, ...)
        self.g_tx = self._adam(updates_per_iteration=1)
        self.d_tx = self._adam(updates_per_iteration=2)  # D steps on the real, then on the fake batch
        self.advance_jit = jax.jit(self.advance, donate_argnums=0)
        self.generate_jit = jax.jit(self.generate)

    def _adam(self, updates_per_iteration: int) -> optax.GradientTransformation:
        """Adam; with optim.decay=cosine its rate falls to 0 at train.steps iterations (optax counts
        updates, so the schedule is stretched by the player's updates per iteration)."""
        o = self.cfg.optim
        lr = o.lr
        if o.decay == "cosine":
            lr = optax.cosine_decay_schedule(o.lr, max(self.cfg.train.steps, 1) * updates_per_iteration)
        return optax.adam(lr, b1=o.b1, b2=o.b2)

    # -- state ---------------------------------------------------------------------------------------

    def init(self, seed: int | None = None, data_seed: int | None = None) -> GANState:
        """A fresh state: players initialised from `seed`, batches drawn from `data_seed`."""
        seed = self.cfg.seed if seed is None else seed
        data_seed = self.cfg.data.seed if data_seed is None else data_seed
        g, d = models.build(self.cfg.model, self.sample_shape, seed=seed, pack=self.cfg.gan.pack)
        _, g_params, g_rest = nnx.split(g, nnx.Param, ...)
        _, d_params, d_rest = nnx.split(d, nnx.Param, ...)
        return GANState(
            step=jnp.zeros((), jnp.int32),
            g_params=g_params,
            d_params=d_params,
            g_rest=g_rest,
            d_rest=d_rest,
            g_opt=self.g_tx.init(g_params),
            d_opt=self.d_tx.init(d_params),
            key=jax.random.key(seed),
            data_key=jax.random.key(data_seed),
        )

    # -- the players as pure functions ---------------------------------------------------------------

    def generate(self, g_params, g_rest, z_BxZ: jax.Array) -> jax.Array:
        return nnx.merge(self.g_graph, g_params, g_rest)(z_BxZ)

    def discriminate(self, d_params, d_rest, x_BxHxWxC: jax.Array) -> jax.Array:
        return nnx.merge(self.d_graph, d_params, d_rest)(x_BxHxWxC)

    def noise(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.normal(key, (n, self.cfg.model.z_dim), jnp.float32)

    # -- steps ---------------------------------------------------------------------------------------

    def _d_update(self, state: GANState, x_BxHxWxC: jax.Array, loss_fn) -> tuple[GANState, jax.Array, jax.Array]:
        """One Adam step of D on one batch; returns the loss and logits from before the update."""

        def loss(d_params):
            logits = self.discriminate(d_params, state.d_rest, x_BxHxWxC)
            return loss_fn(logits), logits

        (value, logits), grads = jax.value_and_grad(loss, has_aux=True)(state.d_params)
        updates, d_opt = self.d_tx.update(grads, state.d_opt, state.d_params)
        return state.replace(d_params=optax.apply_updates(state.d_params, updates), d_opt=d_opt), value, logits

    def d_step(self, state: GANState, x_real: jax.Array, z_d: jax.Array) -> tuple[GANState, Metrics]:
        """D's turn: an Adam step on the real batch, then one on G(z_d). G's params are constants."""
        x_fake = self.generate(state.g_params, state.g_rest, z_d)
        state, loss_real, logits_real = self._d_update(state, x_real, losses.d_loss_real)
        state, loss_fake, logits_fake = self._d_update(state, x_fake, losses.d_loss_fake)
        return state, {
            "d_loss": 0.5 * (loss_real + loss_fake),
            "d_loss_real": loss_real,
            "d_loss_fake": loss_fake,
            "d_acc_real": losses.accuracy(logits_real, 1.0),
            "d_acc_fake": losses.accuracy(logits_fake, 0.0),
        }

    def g_step(self, state: GANState, z_g: jax.Array) -> tuple[GANState, Metrics]:
        """G's turn: an Adam step on G's loss (`gan.loss`) through D. D's params are constants."""
        g_loss = losses.G_LOSSES[self.cfg.gan.loss]

        def loss(g_params):
            x_fake = self.generate(g_params, state.g_rest, z_g)
            return g_loss(self.discriminate(state.d_params, state.d_rest, x_fake))

        value, grads = jax.value_and_grad(loss)(state.g_params)
        updates, g_opt = self.g_tx.update(grads, state.g_opt, state.g_params)
        return state.replace(g_params=optax.apply_updates(state.g_params, updates), g_opt=g_opt), {"g_loss": value}

    @property
    def samples_per_batch(self) -> int:
        """Samples in each real and each fake batch: train.batch_size D inputs of gan.pack samples."""
        return self.cfg.train.batch_size * self.cfg.gan.pack

    def batch_indices(self, state: GANState, n: int) -> jax.Array:
        """Indices of this step's real batch in a dataset of `n` images, from `data_key` and `step`."""
        b = self.samples_per_batch
        key = jax.random.fold_in(state.data_key, state.step)
        if self.cfg.data.sampling == "replacement":  # the book: a random batch each iteration
            return jax.random.randint(key, (b,), 0, n)
        steps_per_epoch = n // b  # shuffled epochs without replacement; a partial last batch is dropped
        epoch, i = jnp.divmod(state.step, steps_per_epoch)
        perm = jax.random.permutation(jax.random.fold_in(state.data_key, -1 - epoch), n)
        return jax.lax.dynamic_slice_in_dim(perm, i * b, b)

    def train_step(self, state: GANState, images: jax.Array) -> tuple[GANState, Metrics]:
        """One iteration: draw a real batch from `images` (N x H x W x C), D's turn, G's turn."""
        key = jax.random.fold_in(state.key, state.step)
        k_d, k_g = jax.random.split(key)
        b = self.samples_per_batch
        x_real = jnp.take(images, self.batch_indices(state, images.shape[0]), axis=0)
        state, d_metrics = self.d_step(state, x_real, self.noise(k_d, b))
        state, g_metrics = self.g_step(state, self.noise(k_g, b))
        return state.replace(step=state.step + 1), {**d_metrics, **g_metrics}

    def train_steps(self, state: GANState, images: jax.Array, k: int) -> tuple[GANState, Metrics]:
        """`k` iterations in one compiled call (`lax.scan`); metrics are stacked along a leading axis."""
        return jax.lax.scan(lambda s, _: self.train_step(s, images), state, None, length=k)

    def advance(self, state: GANState, images: jax.Array) -> tuple[GANState, Metrics]:
        """`train.fuse` iterations (the loop's unit, jitted as `advance_jit`); metrics get a leading axis."""
        k = self.cfg.train.fuse
        if k == 1:
            state, metrics = self.train_step(state, images)
            return state, jax.tree.map(lambda m: m[None], metrics)
        return self.train_steps(state, images, k)


@jax.jit
def all_finite(tree) -> jax.Array:
    """True when every float leaf of `tree` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
