"""The one-player engine for autoencoders and VAEs: a state pytree and a pure, jitted `train_step`.

It follows the GAN engine's conventions (`gan_jax.train`): the NNX model is split once into a graph and
a parameter pytree, a step is a pure `(state, images) -> (state, metrics)`, the step's randomness is
`fold_in(state.key, state.step)` (the reparameterised samples, binarization, input noise) and its batch
comes from `fold_in(state.data_key, state.step)`, so a resumed run continues bit for bit.

What is modelled. Images in [-1, 1] become targets t in [0, 1] (2-D mixture points stay as they are).
`ae.likelihood=bernoulli`: log p(t|z) = sum t * l - softplus(l) over the decoder's logits l (t may be
grey levels, as in the book); `gaussian`: the decoder outputs the mean, std `ae.sigma`. Losses are in
nats per example, summed over pixels:

  ae, conv_ae, linear_ae   -log p(t | z = encoder(x))
  vae, ae.k = 1            -ELBO = -E_q log p(t|z) + KL(q(z|x) || N(0, I)), one reparameterised sample
                           z = mean + exp(logvar / 2) * eps and the KL in closed form (the book's VAE)
  vae, ae.k > 1            -IWAE bound = -log (1/k) sum_i p(t, z_i) / q(z_i|x), z_i ~ q (Burda et al. 2016)

`bound(params, x, key, k)` is the per-example bound used for the test-set ELBO (k = 1) and the
importance-sampled NLL (k = 5,000), in nats.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from gan_jax.config import Config, ConfigError
from gan_jax import parallel, sampling
from gan_jax.models import autoencoder

Metrics = dict[str, jax.Array]
LOG_2PI = math.log(2 * math.pi)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, what "grey" means for colorization


@struct.dataclass
class AEState:
    step: jax.Array
    params: Any
    opt: Any
    key: jax.Array
    data_key: jax.Array


def gaussian_kl(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, I)) per example (summed over the last axis)."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar, axis=-1)


def log_normal(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(z; mean, exp(logvar)) summed over the last axis."""
    return -0.5 * jnp.sum(LOG_2PI + logvar + (z - mean) ** 2 * jnp.exp(-logvar), axis=-1)


def log_likelihood(out: jax.Array, t: jax.Array, likelihood: str, sigma: float) -> jax.Array:
    """log p(t | decoder output) per example, summed over every axis but the first."""
    axes = tuple(range(1, t.ndim))
    if likelihood == "bernoulli":
        return jnp.sum(t * out - jax.nn.softplus(out), axis=axes)
    return jnp.sum(-0.5 * ((t - out) / sigma) ** 2 - math.log(sigma) - 0.5 * LOG_2PI, axis=axes)


def corrupt(t: jax.Array, key: jax.Array, noise: str, level: float) -> jax.Array:
    """The denoising task's input: gaussian (t + level * N(0,1), clipped to [0, 1]), masking (each pixel
    set to 0 with probability `level`) or salt_pepper (each pixel set to 0 or 1 with probability `level`)."""
    if noise == "gaussian":
        return jnp.clip(t + level * jax.random.normal(key, t.shape), 0.0, 1.0)
    k1, k2 = jax.random.split(key)
    hit = jax.random.bernoulli(k1, level, t.shape)
    if noise == "masking":
        return jnp.where(hit, 0.0, t)
    return jnp.where(hit, jax.random.bernoulli(k2, 0.5, t.shape).astype(t.dtype), t)


class Autoencoder:
    """Binds a config (model.name in ae, vae, conv_ae, linear_ae) to the model's graph and optimiser.

    An autoencoder is one player: it uses optim.g_lr, g_b1, g_b2 (and optim.decay)."""

    headline = ("loss",)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...]):
        self.cfg = cfg
        self.sample_shape = tuple(sample_shape)
        self.images = len(self.sample_shape) == 3
        a = cfg.ae
        if not self.images and a.likelihood == "bernoulli":
            raise ConfigError("ae.likelihood: bernoulli models pixel intensities; points of a mixture need "
                              "ae.likelihood=gaussian (with a small ae.sigma)")
        if not self.images and a.task != "reconstruct":
            raise ConfigError(f"ae.task={a.task} needs images; mixtures only support ae.task=reconstruct")
        if a.task == "colorize" and self.sample_shape[-1] != 3:
            raise ConfigError(f"ae.task=colorize needs colour images (H x W x 3), got {self.sample_shape}; "
                              "e.g. data.colors=by_class for colored MNIST")
        if a.k > 1 and cfg.model.name != "vae":
            raise ConfigError(f"ae.k={a.k}: importance-weighted training needs model.name=vae")
        self.in_shape = (*self.sample_shape[:-1], 1) if a.task == "colorize" else self.sample_shape
        self.graph, _ = nnx.split(self._build(0))
        lr = cfg.optim.g_lr
        if cfg.optim.decay == "cosine":
            lr = optax.cosine_decay_schedule(lr, max(cfg.train.steps, 1))
        self.tx = optax.adam(lr, b1=cfg.optim.g_b1, b2=cfg.optim.g_b2)
        self.parallel = parallel.DataParallel(cfg.train.devices, (cfg.train.batch_size,))
        self.advance_jit = jax.jit(self.advance, donate_argnums=0)
        self.sample_jit = jax.jit(self.sample)
        self.bound_jit = jax.jit(self.bound, static_argnums=3)
        self.prepare_jit = jax.jit(self.prepare)
        self.generate_jit = jax.jit(self.generate)
        self.reconstruct_jit = jax.jit(self.reconstruct)
        self.code_jit = jax.jit(lambda params, x: self.encode(params, x)[0])

    def _build(self, seed: int) -> nnx.Module:
        return autoencoder.build(self.cfg.model, self.in_shape, self.sample_shape, self.cfg.ae.activation, seed)

    @property
    def variational(self) -> bool:
        return self.cfg.model.name == "vae"

    def init(self, seed: int | None = None, data_seed: int | None = None) -> AEState:
        seed = self.cfg.seed if seed is None else seed
        data_seed = self.cfg.data.seed if data_seed is None else data_seed
        _, params = nnx.split(self._build(seed))
        return AEState(step=jnp.zeros((), jnp.int32), params=params, opt=self.tx.init(params),
                       key=jax.random.key(seed), data_key=jax.random.key(data_seed))

    # -- the model as pure functions -----------------------------------------------------------------

    def model(self, params) -> nnx.Module:
        """The model, its weights in the compute precision (train.precision)."""
        return nnx.merge(self.graph, parallel.compute(params, self.cfg.train.precision), copy=True)

    def encode(self, params, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """(mean, logvar) of q(z|x) for the model's input x (logvar None for a plain autoencoder)."""
        mean, logvar = self.model(params).encode(parallel.compute(x, self.cfg.train.precision))
        return mean.astype(jnp.float32), None if logvar is None else logvar.astype(jnp.float32)

    def decode(self, params, z: jax.Array) -> jax.Array:
        """The decoder's output (Bernoulli logits or Gaussian means) in target units."""
        return self.model(params).decode(parallel.compute(z, self.cfg.train.precision)).astype(jnp.float32)

    def mean(self, out: jax.Array) -> jax.Array:
        """The decoder output's expected target (probabilities for bernoulli)."""
        return jax.nn.sigmoid(out) if self.cfg.ae.likelihood == "bernoulli" else out

    def to_target(self, x: jax.Array) -> jax.Array:
        return (x + 1.0) / 2.0 if self.images else x

    def to_data(self, t: jax.Array) -> jax.Array:
        return t * 2.0 - 1.0 if self.images else t

    def prepare(self, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(model input, target) for a batch of data `x` under `ae.task` (and dynamic binarization)."""
        a = self.cfg.ae
        k_bin, k_noise = jax.random.split(key)
        t = self.to_target(x)
        if a.binarize:
            t = jax.random.bernoulli(k_bin, t).astype(t.dtype)
        if a.task == "denoise":
            return corrupt(t, k_noise, a.noise, a.noise_level), t
        if a.task == "colorize":
            return jnp.sum(t * LUMA, axis=-1, keepdims=True), t
        return t, t

    def bound(self, params, x_in: jax.Array, t: jax.Array, k: int, key: jax.Array) -> jax.Array:
        """Per-example lower bound on log p(t) in nats (for a plain autoencoder: log p(t | encoder(x))).
        k = 1: the ELBO with the KL in closed form; k > 1: the importance-weighted bound."""
        mean, logvar = self.encode(params, x_in)
        a = self.cfg.ae
        if logvar is None:
            return log_likelihood(self.decode(params, mean), t, a.likelihood, a.sigma)
        if k == 1:
            z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
            return log_likelihood(self.decode(params, z), t, a.likelihood, a.sigma) - gaussian_kl(mean, logvar)
        eps = jax.random.normal(key, (k, *mean.shape))
        z = mean + jnp.exp(0.5 * logvar) * eps  # k x B x Z
        out = self.decode(params, z.reshape((-1, mean.shape[-1])))
        t_k = jnp.broadcast_to(t, (k, *t.shape)).reshape((-1, *t.shape[1:]))
        log_px = log_likelihood(out, t_k, a.likelihood, a.sigma).reshape((k, -1))
        log_w = log_px + log_normal(z, 0.0, jnp.zeros_like(z)) - log_normal(z, mean, logvar)
        return jax.nn.logsumexp(log_w, axis=0) - math.log(k)

    def generate(self, params, z: jax.Array) -> jax.Array:
        """Decoded latent vectors (the decoder's expected target), in the data's units (images in [-1, 1])."""
        return self.to_data(self.mean(self.decode(params, z)))

    def sample(self, state: AEState, z: jax.Array) -> jax.Array:
        return self.generate(state.params, z)

    def reconstruct(self, params, x_in: jax.Array) -> jax.Array:
        """The decoder's expected target at the code's mean, in the data's units."""
        return self.to_data(self.mean(self.decode(params, self.encode(params, x_in)[0])))

    def noise(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.normal(key, (n, self.cfg.model.z_dim), jnp.float32)

    def finish(self, state: AEState, run_dir) -> None:
        """What the run loop calls when training ends: the test-set bound and figures (`gan_jax.ae_report`)."""
        from gan_jax import ae_report  # ae_report builds on this module

        ae_report.finish(self.cfg, self, state, run_dir)

    # -- steps ---------------------------------------------------------------------------------------

    def batch_indices(self, state: AEState, n: int) -> jax.Array:
        """Indices of this step's batch (`gan_jax.sampling`: random batches or shuffled epochs)."""
        return sampling.batch_indices(state.data_key, state.step, n, self.cfg.train.batch_size, self.cfg.data.sampling)

    def train_step(self, state: AEState, images: jax.Array) -> tuple[AEState, Metrics]:
        k_prep, k_z = jax.random.split(jax.random.fold_in(state.key, state.step))
        x_in, t = self.prepare(self.parallel.shard(jnp.take(images, self.batch_indices(state, images.shape[0]), axis=0)),
                               k_prep)

        def loss(params):
            return -jnp.mean(self.bound(params, x_in, t, self.cfg.ae.k, k_z))

        value, grads = jax.value_and_grad(loss)(state.params)
        updates, opt = self.tx.update(grads, state.opt, state.params)
        params = optax.apply_updates(state.params, updates)
        return state.replace(step=state.step + 1, params=params, opt=opt), {"loss": value}

    def train_steps(self, state: AEState, images: jax.Array, k: int) -> tuple[AEState, Metrics]:
        """`k` steps in one compiled call (`lax.scan`); metrics are stacked along a leading axis."""
        return jax.lax.scan(lambda s, _: self.train_step(s, images), state, None, length=k)

    def advance(self, state: AEState, images: jax.Array) -> tuple[AEState, Metrics]:
        """`train.fuse` steps (the run loop's unit, jitted as `advance_jit`)."""
        return self.train_steps(state, images, self.cfg.train.fuse)
