"""The two-player engine: a state pytree and pure, jitted `d_step`, `g_step` and `train_step`.

The NNX modules are split once into a static graph definition and pytrees (`nnx.split`); every step
merges them back inside the traced function, so a step is a pure `(state, ...) -> (state, metrics)`.

Each player differentiates only its own parameters: in `d_step` G's parameters enter as constants, in
`g_step` D's do, and each player has its own optax state (own learning rate and betas). Randomness is
explicit: the step's key is `fold_in(state.key, state.step)` split into `z_d` (D's fake batches) and `z_g`
(G's), and real batches are drawn from `fold_in(state.data_key, state.step)`, so resuming needs no saved
RNG stream and the data order is part of the (seeded) computation.

One iteration is the book's by default: D takes an Adam step on a real batch, then another on a fake
batch (`gan.d_update=split`; `joint` takes one step on the sum), then G takes an Adam step through the
frozen D. `gan.loss` picks the game (`gan_jax.losses`), `gan.n_critic` D's turns per G turn, each on
fresh batches; R1 and the WGAN gradient penalty regularise D; `gan.ema_decay` keeps an exponential
moving average of G's weights (`GANState.g_ema`, decay min(gan.ema_decay, (1 + t) / (10 + t)) at step t,
so early weights fade fast), which `sample` uses; `gan.top_k` lets G learn only from
the fakes D scores highest (top-k training). With PacGAN packing
(`gan.pack` = m), every batch holds B * m samples and D judges them m at a time.

Batch statistics (BatchNorm; the DCGAN players). Training passes run in train mode (normalising by the
batch's own statistics); sampling (`sample`, `generate`) and `discriminate` run in eval mode (the running
averages). A player's running averages are updated only in its own turn: D's by its passes over the real
and the fake batch in `d_step`, G's by its pass in `g_step`. The other player's passes in a turn (G making
D's fake batch, D judging G's fakes) use batch statistics too, and their statistics are dropped.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gan_jax import losses, models, parallel, sampling
from gan_jax.config import Config

Metrics = dict[str, jax.Array]


@struct.dataclass
class GANState:
    """Everything that changes during training; a pytree, saved whole in checkpoints.

    `g_rest` / `d_rest` hold each player's non-parameter variables (BatchNorm's running averages; empty
    for the MLP players). `g_ema` is the moving average of `g_params` (None when gan.ema_decay = 0).
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


class GAN:
    """Binds a config to the players' graph definitions and optimisers; its methods are pure."""

    headline = ("d_loss", "g_loss")  # the metrics a log line shows and early stopping watches

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...]):
        self.cfg = cfg
        self.sample_shape = tuple(sample_shape)
        self.game = losses.GAME_LOSSES[cfg.gan.loss]
        g, d = models.build(cfg.model, self.sample_shape, seed=0, pack=cfg.gan.pack)
        self.g_graph, _, _ = nnx.split(g, nnx.Param, ...)
        self.d_graph, _, _ = nnx.split(d, nnx.Param, ...)
        d_updates = cfg.gan.n_critic * (2 if cfg.gan.d_update == "split" else 1)
        self.g_tx = self._adam("g", updates_per_iteration=1)
        self.d_tx = self._adam("d", updates_per_iteration=d_updates)
        self.parallel = parallel.DataParallel(cfg.train.devices, (self.samples_per_batch,))
        self.advance_jit = jax.jit(self.advance, donate_argnums=0)
        self.sample_jit = jax.jit(self.sample)

    def _adam(self, player: str, updates_per_iteration: int) -> optax.GradientTransformation:
        """The player's Adam; with optim.decay=cosine its rate falls to 0 at train.steps iterations
        (optax counts updates, so the schedule is stretched by the player's updates per iteration)."""
        o = self.cfg.optim
        lr = getattr(o, f"{player}_lr")
        if o.decay == "cosine":
            lr = optax.cosine_decay_schedule(lr, max(self.cfg.train.steps, 1) * updates_per_iteration)
        return optax.adam(lr, b1=getattr(o, f"{player}_b1"), b2=getattr(o, f"{player}_b2"))

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
            g_ema=jax.tree.map(jnp.copy, g_params) if self.cfg.gan.ema_decay > 0 else None,
        )

    # -- the players as pure functions ---------------------------------------------------------------

    def _apply(self, graph, params, rest, x: jax.Array, train: bool) -> tuple[jax.Array, Any]:
        """Runs a player; returns its float32 output and its non-parameter variables after the pass (batch
        statistics' running averages move in train mode), computing in train.precision. `copy=True`: since
        flax 0.11.2 merge reuses the given Variables, which then cannot be mutated under a `jax.grad` trace
        (flax issue #5050)."""
        p = self.cfg.train.precision
        module = nnx.merge(graph, parallel.compute(params, p), rest, copy=True)
        out = module(parallel.compute(x, p), train=train)
        new_rest = jax.tree.map(lambda new, old: new.astype(old.dtype), nnx.split(module, nnx.Param, ...)[2], rest)
        return out.astype(jnp.float32), new_rest

    def generate(self, g_params, g_rest, z_BxZ: jax.Array) -> jax.Array:
        """G in eval mode (running averages, nothing updated)."""
        return self._apply(self.g_graph, g_params, g_rest, z_BxZ, train=False)[0]

    def discriminate(self, d_params, d_rest, x_BxHxWxC: jax.Array) -> jax.Array:
        """D's logits in eval mode (running averages, nothing updated)."""
        return self._apply(self.d_graph, d_params, d_rest, x_BxHxWxC, train=False)[0]

    def sample(self, state: GANState, z_BxZ: jax.Array) -> jax.Array:
        """Samples for grids and export: G in eval mode, with its moving-average weights if kept."""
        return self.generate(state.g_params if state.g_ema is None else state.g_ema, state.g_rest, z_BxZ)

    def noise(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.normal(key, (n, self.cfg.model.z_dim), jnp.float32)

    def finish(self, state: GANState, run_dir) -> None:
        """What the run loop calls when training ends: nothing for a GAN (`gan-jax eval` measures it)."""

    # -- steps ---------------------------------------------------------------------------------------

    def _d_update(self, state: GANState, loss_fn) -> tuple[GANState, Metrics]:
        """One Adam step of D on `loss_fn(d_params, d_rest) -> (loss, (metrics, new d_rest))`."""
        (_, (metrics, d_rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params, state.d_rest)
        updates, d_opt = self.d_tx.update(grads, state.d_opt, state.d_params)
        new_params = optax.apply_updates(state.d_params, updates)
        return state.replace(d_params=new_params, d_opt=d_opt, d_rest=d_rest), metrics

    def _d_real(self, d_params, d_rest, x_real: jax.Array):
        """D's loss on a real batch (+ R1); returns (loss, (metrics, d_rest after the pass))."""
        g = self.cfg.gan
        logits, new_rest = self._apply(self.d_graph, d_params, d_rest, x_real, train=True)
        value = self.game.d_real(logits, g.label_smoothing)
        metrics = {"d_loss_real": value}
        if self.game.threshold is not None:
            metrics["d_acc_real"] = losses.accuracy(logits, 1.0, self.game.threshold)
        if g.r1_weight > 0:
            d_fn = lambda x: self._apply(self.d_graph, d_params, d_rest, x, train=True)[0]  # noqa: E731
            metrics["d_r1"] = losses.r1_penalty(d_fn, x_real)
            value = value + g.r1_weight * metrics["d_r1"]
        return value, (metrics, new_rest)

    def _d_fake(self, d_params, d_rest, x_fake: jax.Array, x_real: jax.Array, key_gp):
        """D's loss on a fake batch (+ the gradient penalty); returns (loss, (metrics, d_rest))."""
        g = self.cfg.gan
        logits, new_rest = self._apply(self.d_graph, d_params, d_rest, x_fake, train=True)
        value = self.game.d_fake(logits)
        metrics = {"d_loss_fake": value}
        if self.game.threshold is not None:
            metrics["d_acc_fake"] = losses.accuracy(logits, 0.0, self.game.threshold)
        if g.gp_weight > 0:
            d_fn = lambda x: self._apply(self.d_graph, d_params, d_rest, x, train=True)[0]  # noqa: E731
            metrics["d_gp"] = losses.gradient_penalty(d_fn, x_real, x_fake, key_gp, g.pack)
            value = value + g.gp_weight * metrics["d_gp"]
        return value, (metrics, new_rest)

    def d_step(self, state: GANState, x_real: jax.Array, z_d: jax.Array, key_gp: jax.Array | None = None,
               ) -> tuple[GANState, Metrics]:
        """D's turn on the real batch and G(z_d): two Adam steps (real, then fake) with d_update=split,
        one on their sum with joint. G's params are constants; `key_gp` draws the penalty's interpolates."""
        x_fake, _ = self._apply(self.g_graph, state.g_params, state.g_rest, z_d, train=True)  # G's stats dropped
        if self.cfg.gan.d_update == "split":
            state, m_real = self._d_update(state, lambda p, r: self._d_real(p, r, x_real))
            state, m_fake = self._d_update(state, lambda p, r: self._d_fake(p, r, x_fake, x_real, key_gp))
            metrics = {**m_real, **m_fake}
        else:

            def joint(p, r):
                loss_real, (m_real, r) = self._d_real(p, r, x_real)
                loss_fake, (m_fake, r) = self._d_fake(p, r, x_fake, x_real, key_gp)
                return loss_real + loss_fake, ({**m_real, **m_fake}, r)

            state, metrics = self._d_update(state, joint)
        metrics["d_loss"] = 0.5 * (metrics["d_loss_real"] + metrics["d_loss_fake"])
        return state, metrics

    def top_k_share(self, step: jax.Array, n_images: int) -> jax.Array:
        """The share of G's fakes it learns from at `step` (top-k training): top_k_decay ** epoch, floored
        at gan.top_k, an epoch being `n_images` real samples. 1 when top-k training is off."""
        g = self.cfg.gan
        if g.top_k == 1.0:
            return jnp.ones(())
        epoch = (step * self.samples_per_batch) // n_images
        return jnp.maximum(g.top_k_decay ** epoch.astype(jnp.float32), g.top_k)

    def g_loss(self, logits: jax.Array, share: jax.Array) -> jax.Array:
        """G's game loss on the `share` of D's outputs (one per D input) that D scores highest: every loss
        in the family is a mean over D's outputs, so this is that mean over the top ceil(share * n)."""
        if self.cfg.gan.top_k == 1.0:
            return self.game.g(logits)
        logits = logits.reshape(-1)
        per_input = jax.vmap(lambda l: self.game.g(l[None]))(logits)
        k = jnp.ceil(share * logits.shape[0] - 1e-6)
        kept = jnp.argsort(jnp.argsort(-logits)) < k  # rank 0 = the fake D finds most real
        return jnp.sum(jnp.where(kept, per_input, 0.0)) / k

    def g_step(self, state: GANState, z_g: jax.Array, share: jax.Array | float = 1.0) -> tuple[GANState, Metrics]:
        """G's turn: an Adam step on G's loss through D (on the top `share` of its fakes, `g_loss`). D's
        params (and statistics) are constants."""

        def loss(g_params):
            x_fake, g_rest = self._apply(self.g_graph, g_params, state.g_rest, z_g, train=True)
            logits, _ = self._apply(self.d_graph, state.d_params, state.d_rest, x_fake, train=True)  # D's stats dropped
            return self.g_loss(logits, share), g_rest

        (value, g_rest), grads = jax.value_and_grad(loss, has_aux=True)(state.g_params)
        updates, g_opt = self.g_tx.update(grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, updates)
        g_ema = state.g_ema
        if g_ema is not None:  # warmed up as TensorFlow's moving average: the decay grows to gan.ema_decay
            t = state.step.astype(jnp.float32)
            decay = jnp.minimum(self.cfg.gan.ema_decay, (1.0 + t) / (10.0 + t))
            g_ema = optax.incremental_update(g_params, g_ema, 1.0 - decay)
        return state.replace(g_params=g_params, g_opt=g_opt, g_rest=g_rest, g_ema=g_ema), {"g_loss": value}

    @property
    def samples_per_batch(self) -> int:
        """Samples in each real and each fake batch: train.batch_size D inputs of gan.pack samples."""
        return self.cfg.train.batch_size * self.cfg.gan.pack

    def batch_indices(self, state: GANState, n: int, turn: int = 0) -> jax.Array:
        """Indices of the real batch for D's `turn` (of gan.n_critic) of this step, in a dataset of `n`
        images, from `data_key` and `step` (`gan_jax.sampling`)."""
        return sampling.batch_indices(state.data_key, state.step, n, self.samples_per_batch, self.cfg.data.sampling,
                                      turn, self.cfg.gan.n_critic)

    def train_step(self, state: GANState, images: jax.Array) -> tuple[GANState, Metrics]:
        """One iteration: gan.n_critic D turns, each on a real batch drawn from `images` (N x H x W x C)
        and a fresh fake batch, then G's turn. D's metrics are means over its turns."""
        key = jax.random.fold_in(state.key, state.step)
        k_d, k_g = jax.random.split(key)
        b = self.samples_per_batch
        turns = []
        for turn in range(self.cfg.gan.n_critic):
            k = jax.random.fold_in(k_d, turn) if turn else k_d
            k_gp = None
            if self.cfg.gan.gp_weight > 0:
                k, k_gp = jax.random.split(k)
            x_real = self.parallel.shard(jnp.take(images, self.batch_indices(state, images.shape[0], turn), axis=0))
            state, m = self.d_step(state, x_real, self.parallel.shard(self.noise(k, b)), k_gp)
            turns.append(m)
        d_metrics = turns[0] if len(turns) == 1 else jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *turns)
        share = self.top_k_share(state.step, images.shape[0])
        state, g_metrics = self.g_step(state, self.parallel.shard(self.noise(k_g, b)), share)
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
