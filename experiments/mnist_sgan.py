"""The semi-supervised GAN (book chapter 7; Salimans et al. 2016) on MNIST with 100 labels.

    gan-jax train mnist_sgan --seeds 5 --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax eval RUN                        # D's test accuracy (mean +- s.e. over the 5 label subsets), G's FD
    gan-jax train mnist_sgan_supervised ... # the baseline: the same network on the 100 labels alone

Its result is the classifier. D is a 10-way classifier whose real/fake logit is the logsumexp of its class
logits (`gan_jax.semi_supervised.SemiSupervisedDiscriminator`); it learns from 10 labelled digits per
class (`data.labels_per_class`, a stratified subset picked by data.seed; with --seeds N, seed i picks its
own from data.seed + i) and from all 60,000 training digits unlabelled, against G's fakes. G plays the
book's non-saturating game against D's logsumexp logit; feature matching (G matches the mean of D's last
hidden features on real and fake batches, Salimans et al.'s choice) is the option
`--set gan.loss=experiments.mnist_sgan:feature_matching`.

This file is built as a user's own experiment would be, on the library's public API: the players are
defined here (`players`, named by model.name as an import path) and the loss is an object here (`loss`,
named by gan.loss); `gan-jax` knows nothing about semi-supervised GANs beyond the labelled subset.

The players follow Salimans et al.'s permutation-invariant MNIST model, scaled down to fit a 2-core CPU:
D an MLP with Gaussian noise before every layer (std 0.3 on the pixels, 0.5 on hidden units) and
weight-normalised layers; G an MLP with batch norm and softplus. Adam(3e-3, b1 0.5) for both, the rate
falling to 0 along a cosine (optim.decay=cosine), batch 100 (and 100 labelled digits beside it).

The paper's code goes further, and two options follow it: `data_init` (its dense layers: the scale of
each unit set from the first training batch, then fixed, `DataInitLinear`) and `head_noise` (noise before
a data-initialised output layer, `NoisyHead`); with `gan.loss=experiments.mnist_sgan:salimans` that is its
whole recipe, `--set 'model.kwargs={"data_init": true, "head_noise": true}'`. At 6,000 iterations (3 label
subsets) it scored 85.5% against the default's 89.4% (docs/notes/2026-12-03-sgan-recipes.md). The paper
tests a moving average of D's weights: `--set gan.d_ema_decay=0.9999`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from gan_jax.config import Config, DataConfig, GANConfig, ModelConfig, OptimConfig, TrainConfig
from gan_jax.semi_supervised import SemiSupervisedDiscriminator, SemiSupervisedLoss

loss = SemiSupervisedLoss()  # gan.loss = "experiments.mnist_sgan:loss": G fools D's logsumexp logit
feature_matching = SemiSupervisedLoss(feature_matching=True)  # Salimans et al.'s G loss, the option
supervised_only = SemiSupervisedLoss(unsupervised=0.0)  # the baseline's: D learns from the labels alone
# the paper's own: feature matching, and D's adversarial term at weight 0.5 (its code halves it)
salimans = SemiSupervisedLoss(unsupervised=0.5, feature_matching=True)


class WeightNormLinear(nnx.Module):
    """x @ (g * v / |v|) + b, each output unit's weight vector normalised (Salimans & Kingma 2016).

    Args:
      d_in, d_out: sizes. rngs: draws v.
    """

    def __init__(self, d_in: int, d_out: int, *, rngs: nnx.Rngs):
        self.v = nnx.Param(0.05 * jax.random.normal(rngs.params(), (d_in, d_out)))
        self.g = nnx.Param(jnp.ones((d_out,)))
        self.b = nnx.Param(jnp.zeros((d_out,)))

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:  # train: as DataInitLinear's, unused
        v = self.v[...]
        return x @ (v * (self.g[...] / jnp.sqrt(jnp.sum(v * v, axis=0) + 1e-12))) + self.b[...]


class DataInit(nnx.Variable):
    """A layer's scale and shift, set from its first training batch and not trained (kept with the state)."""


class DataInitLinear(nnx.Module):
    """Salimans et al.'s MNIST dense layer: x @ (v / |v|) * scale + shift + b, with data-dependent
    initialisation: on the first training pass, scale = 1 / std and shift = -mean / std of each unit's
    x @ (v / |v|) over that batch (the pass's outputs then have mean 0 and std 1 per unit). The scale then
    stays fixed (the paper's hidden layers), or with `train_scale` learns an offset g (its output layer);
    b starts at 0 on top of the shift, so Adam moves scale + g and shift + b exactly as it moves the
    paper's initialised parameters.

    Args:
      d_in, d_out: sizes. train_scale: learn the scale. rngs: draws v.
    """

    def __init__(self, d_in: int, d_out: int, train_scale: bool = False, *, rngs: nnx.Rngs):
        self.v = nnx.Param(0.1 * jax.random.normal(rngs.params(), (d_in, d_out)))
        self.b = nnx.Param(jnp.zeros((d_out,)))
        self.g = nnx.Param(jnp.zeros((d_out,))) if train_scale else None
        self.scale, self.shift = DataInit(jnp.ones((d_out,))), DataInit(jnp.zeros((d_out,)))
        self.ready = DataInit(jnp.zeros(()))

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        v = self.v[...]
        a = x @ (v / jnp.sqrt(jnp.sum(v * v, axis=0) + 1e-12))
        if train:  # the first training pass sets scale and shift (a no-op after it)
            m = jax.lax.stop_gradient(jnp.mean(a, axis=0))
            sd = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(jnp.square(a - m), axis=0) + 1e-12))
            first = self.ready[...] == 0
            self.scale[...] = jnp.where(first, 1.0 / sd, self.scale[...])
            self.shift[...] = jnp.where(first, -m / sd, self.shift[...])
            self.ready[...] = jnp.ones_like(self.ready[...])
        scale = self.scale[...] + (0.0 if self.g is None else self.g[...])
        return a * scale + self.shift[...] + self.b[...]


class NoisyHead(nnx.Module):
    """Salimans et al.'s output layer: Gaussian noise on the features, then a `DataInitLinear` whose scale
    is trained (`SemiSupervisedDiscriminator`'s head).

    Args:
      d_in: features. classes: logits. noise: the std. rngs: draws v and the noise.
    """

    def __init__(self, d_in: int, classes: int, noise: float = 0.5, *, rngs: nnx.Rngs):
        self.noise = GaussianNoise(noise, rngs=rngs)
        self.out = DataInitLinear(d_in, classes, train_scale=True, rngs=rngs)

    def __call__(self, h: jax.Array, train: bool = False) -> jax.Array:
        return self.out(self.noise(h, train), train)


class GaussianNoise(nnx.Module):
    """x + std * N(0, 1) in training passes, x otherwise; its stream is reseeded by the engine every pass.

    Args:
      std: the noise's standard deviation. rngs: the `noise` stream.
    """

    def __init__(self, std: float, *, rngs: nnx.Rngs):
        self.std = std
        self.rng = rngs["noise"].fork()

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if not train or not self.std:
            return x
        return x + self.std * jax.random.normal(self.rng(), x.shape, x.dtype)


class NoisyMLP(nnx.Module):
    """Salimans et al.'s MNIST discriminator body: [noise -> weight-normed linear -> ReLU] per width.

    `features(x, train)` gives the last hidden layer (what the class logits and feature matching read).
    Pixels are taken from [-1, 1] to [0, 1] first, the range of the paper's model.

    Args:
      sample_shape: one image's shape. widths: hidden widths. input_noise, hidden_noise: the noise stds.
      data_init: `DataInitLinear` layers (the paper's) instead of `WeightNormLinear`.
    """

    def __init__(self, sample_shape, widths, input_noise: float, hidden_noise: float, data_init: bool = False,
                 *, rngs: nnx.Rngs):
        sizes = [math.prod(sample_shape), *widths]
        layer = DataInitLinear if data_init else WeightNormLinear
        self.layers = nnx.List([layer(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])
        self.noise = nnx.List([GaussianNoise(input_noise if i == 0 else hidden_noise, rngs=rngs)
                               for i in range(len(widths))])
        self.feature_dim = widths[-1]

    def features(self, x: jax.Array, train: bool = False) -> jax.Array:
        """B x widths[-1] features of B images.

        Args:
          x: B images in [-1, 1]. train: noise on.

        Returns:
          The last hidden layer's activations.

        >>> d = NoisyMLP((4,), (8, 6), 0.3, 0.5, rngs=nnx.Rngs(0))
        >>> d.features(jnp.zeros((2, 4))).shape
        (2, 6)
        """
        h = (x.reshape((x.shape[0], -1)) + 1) / 2
        for noise, layer in zip(self.noise, self.layers):
            h = jax.nn.relu(layer(noise(h, train), train))
        return h


class Generator(nnx.Module):
    """z -> [linear -> batch norm -> softplus] x 2 -> weight-normed linear -> tanh, one image per z.

    Args:
      z_dim: noise size. sample_shape: one image's shape. hidden: width.
    """

    def __init__(self, z_dim: int, sample_shape, hidden: int, *, rngs: nnx.Rngs):
        self.sample_shape = tuple(sample_shape)
        self.l1 = nnx.Linear(z_dim, hidden, use_bias=False, rngs=rngs)
        self.n1 = nnx.BatchNorm(hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, hidden, use_bias=False, rngs=rngs)
        self.n2 = nnx.BatchNorm(hidden, rngs=rngs)
        self.out = WeightNormLinear(hidden, math.prod(sample_shape), rngs=rngs)

    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        h = jax.nn.softplus(self.n1(self.l1(z), use_running_average=not train))
        h = jax.nn.softplus(self.n2(self.l2(h), use_running_average=not train))
        return jnp.tanh(self.out(h)).reshape((z.shape[0], *self.sample_shape))


def players(sample_shape, z_dim: int = 100, widths=(500, 250, 250), input_noise: float = 0.3,
            hidden_noise: float = 0.5, g_hidden: int = 500, classes: int = 10, data_init: bool = False,
            head_noise: bool = False):
    """(G, D) factories for the semi-supervised GAN (model.name = "experiments.mnist_sgan:players").

    Args:
      sample_shape: one image's shape. z_dim: G's noise. widths: D's hidden widths. input_noise,
      hidden_noise: D's Gaussian noise stds. g_hidden: G's width. classes: D's classes. data_init: D's
      layers are `DataInitLinear` (else `WeightNormLinear`). head_noise: D's class logits come from a
      `NoisyHead` (else a plain linear layer).

    Returns:
      (generator factory, discriminator factory), each `rngs -> nnx.Module`.

    >>> g, d = players((28, 28, 1))
    >>> d(rngs=nnx.Rngs(0)).classify(jnp.zeros((2, 28, 28, 1))).shape
    (2, 10)
    """
    body = functools.partial(NoisyMLP, tuple(sample_shape), tuple(widths), input_noise, hidden_noise, data_init)
    head = functools.partial(NoisyHead, noise=hidden_noise) if head_noise else None
    return (functools.partial(Generator, z_dim, tuple(sample_shape), g_hidden),
            functools.partial(SemiSupervisedDiscriminator, body, classes, head))


def get_config(experiment: str = "mnist_sgan", loss_name: str = "loss") -> Config:
    return Config(
        experiment=experiment,
        model=ModelConfig(name="experiments.mnist_sgan:players", z_dim=100),
        gan=GANConfig(loss=f"experiments.mnist_sgan:{loss_name}", d_update="joint"),
        data=DataConfig(source="auto", name="mnist", sampling="replacement", labels_per_class=10),
        optim=OptimConfig.both(lr=3e-3, b1=0.5, b2=0.999, decay="cosine"),
        train=TrainConfig(steps=20_000, batch_size=100, fuse=0, sample_interval=1_000, checkpoint_interval=1_000),
    )
