"""The autoencoder preset for autoencoders and VAEs: `Autoencoder(model, tx, **settings)`, a
`gan_jax.game.Game` of one player ("model") and one turn (`ae.game`).

The model is any Flax NNX module (or a factory `rngs -> module`) with

    encode(x) -> (mean, logvar)    the code; logvar is None for a plain (deterministic) autoencoder
    decode(z) -> out               per pixel: Bernoulli logits (likelihood="bernoulli") or Gaussian means

where x is the model's input in target units (images in [0, 1]; see below). It follows the GAN engine's
conventions (`gan_jax.gan`): an immutable engine whose pure `train_step(state, data) -> (state, metrics)`
draws its batch from `fold_in(state.data_key, state.step)` and its randomness (the reparameterised samples,
binarization, input noise, dropout) from `fold_in(state.key, state.step)`, so a resumed run continues bit
for bit.

What is modelled. Images in [-1, 1] (4-d batches) become targets t in [0, 1]; other data (2-D mixture
points) stay as they are. likelihood="bernoulli": log p(t|z) = sum t * l - softplus(l) over the decoder's
logits l (t may be grey levels, as in the book); "gaussian": the decoder outputs the mean, std `sigma`.
Losses are in nats per example, summed over pixels:

  plain autoencoder     -log p(t | z = encoder(x))
  VAE, k = 1            -ELBO = -E_q log p(t|z) + KL(q(z|x) || N(0, I)), one reparameterised sample
                        z = mean + exp(logvar / 2) * eps and the KL in closed form (the book's VAE)
  VAE, k > 1            -IWAE bound = -log (1/k) sum_i p(t, z_i) / q(z_i|x), z_i ~ q (Burda et al. 2016)

The image-unit helpers `embed(state, images)`, `decode(state, z)` and `reconstruct(state, images)` take
and give images in [-1, 1], in batches, as numpy arrays.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from gan_jax import parallel, sampling, xla
from gan_jax.config import AERules
from gan_jax.game import Game, GameState, Turn
from gan_jax.players import Player, Streams

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
    """KL(N(mean, exp(logvar)) || N(0, I)) per example (summed over the last axis).

    Args:
      mean, logvar: q's parameters, B x Z.

    Returns:
      B values (a scalar for 1-d inputs).

    >>> float(gaussian_kl(jnp.array([2.0]), jnp.array([0.0])))   # 1/2 * 2^2
    2.0
    """
    return 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar, axis=-1)


def log_normal(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(z; mean, exp(logvar)) summed over the last axis.

    Args:
      z, mean, logvar: broadcastable arrays.

    Returns:
      The log-densities.

    >>> round(float(log_normal(jnp.zeros(1), 0.0, jnp.zeros(1))), 4)   # -1/2 log 2 pi
    -0.9189
    """
    return -0.5 * jnp.sum(LOG_2PI + logvar + (z - mean) ** 2 * jnp.exp(-logvar), axis=-1)


def log_likelihood(out: jax.Array, t: jax.Array, likelihood: str, sigma: float) -> jax.Array:
    """log p(t | decoder output) per example, summed over every axis but the first.

    Args:
      out: the decoder's logits (bernoulli) or means (gaussian). t: targets. likelihood: bernoulli or
        gaussian. sigma: the gaussian's std.

    Returns:
      B log-likelihoods, in nats.

    >>> round(float(log_likelihood(jnp.zeros((1, 1)), jnp.ones((1, 1)), "bernoulli", 1.0)[0]), 4)
    -0.6931
    """
    axes = tuple(range(1, t.ndim))
    if likelihood == "bernoulli":
        return jnp.sum(t * out - jax.nn.softplus(out), axis=axes)
    return jnp.sum(-0.5 * ((t - out) / sigma) ** 2 - math.log(sigma) - 0.5 * LOG_2PI, axis=axes)


def corrupt(t: jax.Array, key: jax.Array, noise: str, level: float) -> jax.Array:
    """The denoising task's input.

    Args:
      t: targets in [0, 1]. key: the noise. noise: gaussian (t + level * N(0,1), clipped), masking (each
        pixel 0 with probability `level`) or salt_pepper (each pixel 0 or 1 with probability `level`).
      level: the noise level.

    Returns:
      The corrupted input, like `t`.

    >>> float(corrupt(jnp.ones(4), jax.random.key(0), "masking", 0.0).sum())
    4.0
    """
    if noise == "gaussian":
        return jnp.clip(t + level * jax.random.normal(key, t.shape), 0.0, 1.0)
    k1, k2 = jax.random.split(key)
    hit = jax.random.bernoulli(k1, level, t.shape)
    if noise == "masking":
        return jnp.where(hit, 0.0, t)
    return jnp.where(hit, jax.random.bernoulli(k2, 0.5, t.shape).astype(t.dtype), t)


@dataclasses.dataclass(frozen=True)
class AESettings(AERules):
    """The autoencoder engine's settings (keyword arguments of `Autoencoder`): its objective
    (`gan_jax.config.AERules`: likelihood, sigma, k, binarize, task, noise, noise_level; shared with a
    config's `ae` section) and how it runs.

    z_dim: the latent size (None: the model's `latent` attribute). batch_size, sampling ("epoch":
    shuffled epochs, the default; or "replacement"). precision: float32 or bfloat16 compute. devices: data
    parallel (0 = all).
    """

    z_dim: int | None = None
    batch_size: int = 100
    sampling: str = "epoch"
    precision: str = "float32"
    devices: int = 0

    def __post_init__(self):
        super().__post_init__()

        def need(ok, name, what):
            if not ok:
                raise ValueError(f"{name}: {what}, got {getattr(self, name)!r}")

        need(self.z_dim is None or (isinstance(self.z_dim, int) and self.z_dim >= 1), "z_dim", "must be an int >= 1")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", "must be an int >= 1")
        need(self.sampling in sampling.SAMPLING, "sampling", f"must be one of {', '.join(sampling.SAMPLING)}")
        need(self.precision in parallel.PRECISIONS, "precision", f"must be one of {', '.join(parallel.PRECISIONS)}")
        need(isinstance(self.devices, int) and self.devices >= 0, "devices", "must be an int >= 0 (0 = all)")


class Autoencoder:
    """The one-player engine (see the module docstring for the model's contract).

    Args:
      model: factory `rngs -> nnx.Module` (or a module) with encode(x) -> (mean, logvar | None) and
        decode(z) -> logits or means.
      tx: the optax transformation.
      **settings: `AESettings` fields (z_dim, likelihood, k, task, batch_size, ...).

    Example:
      >>> import functools, optax
      >>> from gan_jax.models.autoencoder import MLPAutoencoder
      >>> VAE = functools.partial(MLPAutoencoder, (4, 4, 1), (4, 4, 1), 2, 16, 1, "relu", True)
      >>> ae = Autoencoder(VAE, optax.adam(1e-3), batch_size=4)
      >>> state = ae.init(jax.random.key(0))
      >>> state, metrics = jax.jit(ae.train_step)(state, jnp.zeros((8, 4, 4, 1)))
      >>> ae.embed(state, np.zeros((3, 4, 4, 1))).shape
      (3, 2)
    """

    headline = ("loss",)
    plateau = ("loss",)
    compact_data = True  # its batches go through sampling.pixels, which turns uint8 pixels back into floats
    panels = ()

    def __init__(self, model, tx: optax.GradientTransformation, **settings):
        unknown = set(settings) - {f.name for f in dataclasses.fields(AESettings)}
        if unknown:
            raise TypeError(f"Autoencoder got unknown settings {sorted(unknown)}; valid: "
                            f"{', '.join(f.name for f in dataclasses.fields(AESettings))}")
        s = AESettings(**settings)
        player = Player(model, "model")
        if jax.tree.leaves(player.rest_template):
            raise ValueError("model: variables other than parameters and RNG streams (batch statistics) are not "
                             "supported by the Autoencoder engine; use a model without BatchNorm")
        if s.z_dim is None:
            latent = getattr(player.template, "latent", None)
            if not isinstance(latent, int):
                raise ValueError("z_dim: give the latent size (the model has no int `latent` attribute)")
            s = dataclasses.replace(s, z_dim=latent)
        jits = {}
        self.__dict__.update(model=model, tx=tx, settings=s, player=player, _jits=jits)
        # a game of one player and one turn; the turn's key is the step's (`prepare`'s and `bound`'s noise)
        self.__dict__["game"] = Game({"model": player}, {"model": tx},
                                     [Turn("model", self._loss, name="ae", report=lambda m: {"loss": m["ae_loss"]})],
                                     batch_size=s.batch_size, sampling=s.sampling, precision=s.precision,
                                     devices=s.devices)
        self.__dict__["parallel"] = self.game.parallel

    def __setattr__(self, name, value):
        raise AttributeError(f"an Autoencoder is immutable (its settings are fixed when built); use "
                             f"ae.replace({name}=...)")

    def replace(self, **changes) -> "Autoencoder":
        """A new engine with some arguments changed (model, tx or any setting)."""
        args = dict(model=self.model, tx=self.tx, **dataclasses.asdict(self.settings))
        args.update(changes)
        return Autoencoder(**args)

    def check_data(self, sample_shape: tuple[int, ...]) -> None:
        """Raises ValueError when the settings cannot train on samples of `sample_shape`.

        Args:
          sample_shape: one sample's shape, e.g. (28, 28, 1).

        Returns:
          None.

        >>> # ae.check_data((2,))   # ValueError: bernoulli models pixel intensities ...
        """
        s, images = self.settings, len(sample_shape) == 3
        if not images and s.likelihood == "bernoulli":
            raise ValueError("likelihood: bernoulli models pixel intensities; points of a mixture need "
                             "likelihood=gaussian (with a small sigma)")
        if not images and s.task != "reconstruct":
            raise ValueError(f"task={s.task} needs images; mixtures only support task=reconstruct")
        if s.task == "colorize" and sample_shape[-1] != 3:
            raise ValueError(f"task=colorize needs colour images (H x W x 3), got {tuple(sample_shape)}; "
                             "e.g. data.colors=by_class for colored MNIST")

    def init(self, key: jax.Array | int | Streams) -> AEState:
        """A fresh state.

        Args:
          key: a typed key (split into weights, noise and data streams), an int seed, or Streams.

        Returns:
          An AEState at step 0.

        >>> # state = ae.init(jax.random.key(0))
        """
        return self.ae_state(self.game.init(key))

    # -- the model as pure functions -----------------------------------------------------------------

    def _module(self, params, key=None):
        """The model, its weights in the compute precision, its RNG streams seeded from `key`."""
        return self.player.merge(params, self.player.rest_template, self.settings.precision, key)

    def encode(self, params, x_in: jax.Array, key=None) -> tuple[jax.Array, jax.Array | None]:
        """q(z|x) for the model's input.

        Args:
          params: the model's parameters. x_in: model inputs (targets' units, [0, 1] for images).
          key: seeds the model's RNG streams (dropout), if it has any.

        Returns:
          (mean, logvar), float32; logvar is None for a plain autoencoder.

        >>> # mean, logvar = ae.encode(state.params, ae.model_input(images))
        """
        mean, logvar = self._module(params, key).encode(parallel.compute(x_in, self.settings.precision))
        return mean.astype(jnp.float32), None if logvar is None else logvar.astype(jnp.float32)

    def decoder_out(self, params, z: jax.Array, key=None) -> jax.Array:
        """The decoder's raw output.

        Args:
          params: the model's parameters. z: codes, B x z_dim. key: for RNG streams, if any.

        Returns:
          Bernoulli logits or Gaussian means, in target units.

        >>> # logits = ae.decoder_out(state.params, z)
        """
        out = self._module(params, key).decode(parallel.compute(z, self.settings.precision))
        return out.astype(jnp.float32)

    def mean(self, out: jax.Array) -> jax.Array:
        """The decoder output's expected target.

        Args:
          out: `decoder_out`'s output.

        Returns:
          sigmoid(out) for bernoulli, out for gaussian.

        >>> # probs = ae.mean(ae.decoder_out(state.params, z))
        """
        return jax.nn.sigmoid(out) if self.settings.likelihood == "bernoulli" else out

    @staticmethod
    def to_target(x: jax.Array) -> jax.Array:
        """Data -> targets: images (4-d) from [-1, 1] to [0, 1]; points unchanged.

        Args:
          x: a batch of data.

        Returns:
          The targets.

        >>> float(Autoencoder.to_target(-jnp.ones((1, 1, 1, 1))).sum())
        0.0
        """
        return (x + 1.0) / 2.0 if x.ndim == 4 else x

    @staticmethod
    def to_data(t: jax.Array) -> jax.Array:
        """Targets -> data: the inverse of `to_target`.

        Args:
          t: a batch of targets.

        Returns:
          The data (images in [-1, 1]).

        >>> float(Autoencoder.to_data(jnp.zeros((1, 1, 1, 1))).sum())
        -1.0
        """
        return t * 2.0 - 1.0 if t.ndim == 4 else t

    def prepare(self, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(model input, target) for a batch of data under `task` (and dynamic binarization).

        Args:
          x: a batch of data (images in [-1, 1]). key: the noise of binarization and corruption.

        Returns:
          (model input, target), both in target units.

        >>> # x_in, t = ae.prepare(images, jax.random.key(0))
        """
        s = self.settings
        k_bin, k_noise = jax.random.split(key)
        t = self.to_target(x)
        if s.binarize:
            t = jax.random.bernoulli(k_bin, t).astype(t.dtype)
        if s.task == "denoise":
            return corrupt(t, k_noise, s.noise, s.noise_level), t
        if s.task == "colorize":
            return jnp.sum(t * LUMA, axis=-1, keepdims=True), t
        return t, t

    def model_input(self, x: jax.Array) -> jax.Array:
        """The model's clean input for data (no noise, no binarization).

        Args:
          x: a batch of data (images in [-1, 1]).

        Returns:
          The targets, or their luminance for task=colorize.

        >>> # ae.encode(state.params, ae.model_input(images))
        """
        t = self.to_target(x)
        return jnp.sum(t * LUMA, axis=-1, keepdims=True) if self.settings.task == "colorize" else t

    def bound(self, params, x_in: jax.Array, t: jax.Array, k: int, key: jax.Array) -> jax.Array:
        """Per-example lower bound on log p(t) in nats (for a plain autoencoder: log p(t | encoder(x))).

        Args:
          params: the model's parameters.
          x_in, t: model inputs and targets (`prepare`).
          k: 1 for the ELBO with the KL in closed form; > 1 for the importance-weighted bound.
          key: the reparameterised samples.

        Returns:
          B bounds.

        >>> # elbo = ae.bound(state.params, *ae.prepare(images, k1), 1, k2)
        """
        k_enc, k_eps, k_dec = jax.random.split(key, 3) if self.player.stochastic else (None, key, None)
        mean, logvar = self.encode(params, x_in, k_enc)
        s = self.settings
        if logvar is None:
            if k > 1:
                raise ValueError(f"k={k}: importance-weighted training needs a VAE (encode returning a logvar)")
            return log_likelihood(self.decoder_out(params, mean, k_dec), t, s.likelihood, s.sigma)
        if k == 1:
            z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_eps, mean.shape)
            return log_likelihood(self.decoder_out(params, z, k_dec), t, s.likelihood, s.sigma) - gaussian_kl(mean, logvar)
        eps = jax.random.normal(k_eps, (k, *mean.shape))
        z = mean + jnp.exp(0.5 * logvar) * eps  # k x B x Z
        out = self.decoder_out(params, z.reshape((-1, mean.shape[-1])), k_dec)
        t_k = jnp.broadcast_to(t, (k, *t.shape)).reshape((-1, *t.shape[1:]))
        log_px = log_likelihood(out, t_k, s.likelihood, s.sigma).reshape((k, -1))
        log_w = log_px + log_normal(z, 0.0, jnp.zeros_like(z)) - log_normal(z, mean, logvar)
        return jax.nn.logsumexp(log_w, axis=0) - math.log(k)

    def generate(self, params, z: jax.Array) -> jax.Array:
        """Decoded latent vectors in the data's units.

        Args:
          params: the model's parameters. z: B x z_dim codes.

        Returns:
          The decoder's expected target as data (images in [-1, 1]).

        >>> # x = ae.generate(state.params, ae.noise(jax.random.key(0), 16))
        """
        return self.to_data(self.mean(self.decoder_out(params, z)))

    def sample(self, state: AEState, z: jax.Array) -> jax.Array:
        """Decoded latent vectors from a state (what grids show; for a plain autoencoder z is not a prior).

        Args:
          state: an AEState. z: B x z_dim codes.

        Returns:
          B samples in the data's units.

        >>> # x = ae.sample(state, ae.noise(jax.random.key(0), 16))
        """
        return self.generate(state.params, z)

    def reconstruction(self, params, x_in: jax.Array) -> jax.Array:
        """The reconstruction of model inputs at their code's mean.

        Args:
          params: the model's parameters. x_in: model inputs (`prepare` / `model_input`).

        Returns:
          The decoder's expected target, in the data's units.

        >>> # recon = ae.reconstruction(state.params, ae.model_input(images))
        """
        return self.to_data(self.mean(self.decoder_out(params, self.encode(params, x_in)[0])))

    def noise(self, key: jax.Array, n: int) -> jax.Array:
        """`n` draws from the prior N(0, I) of dimension z_dim.

        Args:
          key: a typed key. n: how many.

        Returns:
          n x z_dim float32.

        >>> # z = ae.noise(jax.random.key(0), 64)
        """
        return jax.random.normal(key, (n, self.settings.z_dim), jnp.float32)

    def is_variational(self, x_in: jax.Array) -> bool:
        """Whether the model's encoder gives a log-variance (a VAE).

        Args:
          x_in: model inputs of the right shape (one is enough).

        Returns:
          True for a VAE.

        >>> # ae.is_variational(ae.model_input(images[:1]))
        """
        params = jax.eval_shape(lambda: self.player.init(nnx.Rngs(0))[0])  # shapes only: nothing is computed
        return jax.eval_shape(lambda p, x: self.encode(p, x), params, x_in[:1])[1] is not None

    # -- image-unit helpers (host side, batched) -----------------------------------------------------

    def jitted(self, name: str) -> Callable:
        """The engine's pure function `name`, compiled once (`gan_jax.xla.jit`).

        Args:
          name: prepare, bound (k static), generate, reconstruction, code (q's mean of model inputs), or
            embed, decode, reconstruct (from data).

        Returns:
          The jitted function of (params, ...).

        >>> # codes = ae.jitted("code")(state.params, x_in)
        """
        if name not in self._jits:
            fns = {
                "prepare": (self.prepare, {}),
                "bound": (self.bound, {"static_argnums": 3}),
                "generate": (self.generate, {}),
                "reconstruction": (self.reconstruction, {}),
                "code": (lambda p, x: self.encode(p, x)[0], {}),
                "embed": (lambda p, x: self.encode(p, self.model_input(x))[0], {}),
                "decode": (self.generate, {}),
                "reconstruct": (lambda p, x: self.reconstruction(p, self.model_input(x)), {}),
            }
            fn, kwargs = fns[name]
            self._jits[name] = xla.jit(fn, **kwargs)
        return self._jits[name]

    def _batched(self, name, params, x, batch: int) -> np.ndarray:
        f = self.jitted(name)
        x = np.asarray(x, np.float32)
        return np.concatenate([np.asarray(f(params, jnp.asarray(x[i : i + batch]))) for i in range(0, len(x), batch)])

    def embed(self, state: AEState, images, batch: int = 1000) -> np.ndarray:
        """The codes (q's mean for a VAE) of data in the data's units (images in [-1, 1]).

        Args:
          state: an AEState. images: N x H x W x C in [-1, 1] (or mixture points). batch: per call.

        Returns:
          N x z_dim numpy array.

        >>> # codes = ae.embed(state, test_images)
        """
        return self._batched("embed", state.params, images, batch)

    def decode(self, state: AEState, z, batch: int = 1000) -> np.ndarray:
        """Decoded codes as data: N x z_dim -> images in [-1, 1] (the decoder's expected value).

        Args:
          state: an AEState. z: N x z_dim. batch: per call.

        Returns:
          N x H x W x C numpy array.

        >>> # images = ae.decode(state, codes)
        """
        return self._batched("decode", state.params, z, batch)

    def reconstruct(self, state: AEState, images, batch: int = 1000) -> np.ndarray:
        """Images -> their reconstructions at the code's mean, both in [-1, 1].

        Args:
          state: an AEState. images: N x H x W x C in [-1, 1]. batch: per call.

        Returns:
          N x H x W x C numpy array.

        >>> # recon = ae.reconstruct(state, test_images)
        """
        return self._batched("reconstruct", state.params, images, batch)

    # -- the step ------------------------------------------------------------------------------------

    def batch_indices(self, state: AEState, n: int) -> jax.Array:
        """Indices of this step's batch (`gan_jax.sampling`: random batches or shuffled epochs).

        Args:
          state: an AEState (its data_key and step). n: the dataset's size.

        Returns:
          batch_size int32 indices.

        >>> # batch = data[ae.batch_indices(state, len(data))]
        """
        s = self.settings
        return sampling.batch_indices(state.data_key, state.step, n, s.batch_size, s.sampling)

    def _loss(self, nets, batch: jax.Array, key: jax.Array) -> jax.Array:
        """The game's one loss: the negative bound of a batch (the model's passes draw their own keys)."""
        k_prep, k_z = jax.random.split(key)
        x_in, t = self.prepare(batch, k_prep)
        return -jnp.mean(self.bound(nets.params["model"], x_in, t, self.settings.k, k_z))

    def train_step(self, state: AEState, data: jax.Array) -> tuple[AEState, Metrics]:
        """One optax step on the negative bound of a batch drawn from `data` (the dataset, N x ...).

        Args:
          state: an AEState.
          data: the whole dataset on the device (images in [-1, 1]).

        Returns:
          (state one step on, {"loss": nats per example}).

        >>> # state, metrics = gj.jit(ae.train_step, donate_argnums=0)(state, images)
        """
        game_state, metrics = self.game.train_step(self.game_state(state), data)
        return self.ae_state(game_state), metrics

    def game_state(self, state: AEState) -> GameState:
        """The AEState as its game's state (player "model"; the same arrays).

        Args:
          state: an AEState.

        Returns:
          A GameState.

        >>> ae = _tiny()
        >>> sorted(ae.game_state(ae.init(0)).params)
        ['model']
        """
        return GameState(step=state.step, params={"model": state.params}, rest={"model": self.player.rest_template},
                         opt={"model": state.opt}, ema={}, key=state.key, data_key=state.data_key)

    def ae_state(self, state: GameState) -> AEState:
        """The game's state as an AEState (the layout of checkpoints and of every reader of these runs).

        Args:
          state: a GameState of this engine's game.

        Returns:
          The AEState.

        >>> ae = _tiny()
        >>> int(ae.ae_state(ae.game.init(0)).step)
        0
        """
        return AEState(step=state.step, params=state.params["model"], opt=state.opt["model"], key=state.key,
                       data_key=state.data_key)


def _tiny() -> Autoencoder:
    """A tiny VAE on 4 x 4 images, for the docstring examples."""
    import functools

    from gan_jax.models.autoencoder import MLPAutoencoder

    return Autoencoder(functools.partial(MLPAutoencoder, (4, 4, 1), (4, 4, 1), 2, 16, 1, "relu", True),
                       optax.adam(1e-3), batch_size=4)
