"""The book's chapter-4 DCGAN players, with BatchNorm run functionally.

Generator: Dense(7*7*256) -> 7x7x256 -> ConvTranspose(128, 3x3, stride 2) -> BatchNorm -> LeakyReLU ->
ConvTranspose(64, 3x3, stride 1) -> BatchNorm -> LeakyReLU -> ConvTranspose(C, 3x3, stride 2) -> tanh
(for H x W images with H, W divisible by 4: 28x28 gives the book's 7x7 start).

Discriminator: Conv(32, 3x3, s2) -> LeakyReLU -> Conv(64, 3x3, s2) -> BatchNorm -> LeakyReLU ->
Conv(128, 3x3, s2) -> BatchNorm -> LeakyReLU -> flatten -> Dense(1), the logit of "real". With
`norm="none"` D has no BatchNorm (per-sample outputs, as gradient penalties assume). With PacGAN
packing, D's input stacks `pack` samples along the channels.

All 'same' padding, LeakyReLU(leak) (the book: 0.01), Keras's initialisers (Glorot uniform, zero bias)
and BatchNorm settings (momentum 0.99, epsilon 1e-3). `train=True` normalises by the batch's statistics
and moves the running averages; `train=False` uses the running averages (see `gan_jax.gan` for which
pass updates which player's statistics). Transposed convolutions use `conv.conv_transpose`, whose
gradients XLA runs fast.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gan_jax.models import conv

_INIT = nnx.initializers.glorot_uniform()
D_NORMS = ("batch", "none")


def _batch_norm(features: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
    return nnx.BatchNorm(features, momentum=0.99, epsilon=1e-3, rngs=rngs)  # Keras's defaults


class ConvTranspose(nnx.Module):
    """Keras Conv2DTranspose(out_features, k x k, stride, padding='same') with a bias."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int, *, rngs: nnx.Rngs):
        self.stride = stride
        self.kernel = nnx.Param(_INIT(rngs.params(), (kernel_size, kernel_size, out_features, in_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel[...]
        return conv.conv_transpose(x.astype(k.dtype), k, self.stride) + self.bias[...]  # BatchNorm may promote x


class Conv(nnx.Module):
    """Keras Conv2D(out_features, k x k, stride, padding='same') with a bias."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int, *, rngs: nnx.Rngs):
        self.stride = stride
        self.kernel = nnx.Param(_INIT(rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel[...]
        return conv.conv(x.astype(k.dtype), k, self.stride) + self.bias[...]


class Generator(nnx.Module):
    def __init__(self, z_dim: int, sample_shape: tuple[int, ...], leak: float, *, rngs: nnx.Rngs):
        h, w, c = sample_shape
        self.base = (h // 4, w // 4)
        self.leak = leak
        self.dense = nnx.Linear(z_dim, self.base[0] * self.base[1] * 256, kernel_init=_INIT, rngs=rngs)
        self.up1 = ConvTranspose(256, 128, 3, 2, rngs=rngs)
        self.bn1 = _batch_norm(128, rngs)
        self.up2 = ConvTranspose(128, 64, 3, 1, rngs=rngs)
        self.bn2 = _batch_norm(64, rngs)
        self.up3 = ConvTranspose(64, c, 3, 2, rngs=rngs)

    def __call__(self, z_BxZ: jax.Array, train: bool = False) -> jax.Array:
        h = self.dense(z_BxZ).reshape((z_BxZ.shape[0], *self.base, 256))
        h = jax.nn.leaky_relu(self.bn1(self.up1(h), use_running_average=not train), self.leak)
        h = jax.nn.leaky_relu(self.bn2(self.up2(h), use_running_average=not train), self.leak)
        return jnp.tanh(self.up3(h))


class Discriminator(nnx.Module):
    def __init__(self, sample_shape: tuple[int, ...], leak: float, norm: str = "batch", pack: int = 1,
                 *, rngs: nnx.Rngs):
        h, w, c = sample_shape
        self.leak, self.pack = leak, pack
        self.conv1 = Conv(c * pack, 32, 3, 2, rngs=rngs)
        self.conv2 = Conv(32, 64, 3, 2, rngs=rngs)
        self.conv3 = Conv(64, 128, 3, 2, rngs=rngs)
        self.bn2 = _batch_norm(64, rngs) if norm == "batch" else None
        self.bn3 = _batch_norm(128, rngs) if norm == "batch" else None
        side = lambda n: -(-(-(-(-(-n // 2)) // 2)) // 2)  # noqa: E731  three 'same' stride-2 convs
        self.feature_dim = side(h) * side(w) * 128
        self.out = nnx.Linear(self.feature_dim, 1, kernel_init=_INIT, rngs=rngs)

    def _norm(self, bn, h: jax.Array, train: bool) -> jax.Array:
        return h if bn is None else bn(h, use_running_average=not train)

    def features(self, x: jax.Array, train: bool = False) -> jax.Array:
        """The last conv block's activations, flattened.

        Args:
          x: B * pack images. train: batch statistics (True) or running averages.

        Returns:
          B x feature_dim.

        >>> # h = d.features(x, train=True); logits = d.head(h)     # == d(x, train=True)
        """
        if self.pack > 1:  # (B*m) x H x W x C -> B x H x W x (m*C)
            b, h, w, c = x.shape
            x = x.reshape(b // self.pack, self.pack, h, w, c).transpose(0, 2, 3, 1, 4).reshape(b // self.pack, h, w, -1)
        h = jax.nn.leaky_relu(self.conv1(x), self.leak)
        h = jax.nn.leaky_relu(self._norm(self.bn2, self.conv2(h), train), self.leak)
        h = jax.nn.leaky_relu(self._norm(self.bn3, self.conv3(h), train), self.leak)
        return h.reshape(h.shape[0], -1)

    def head(self, h: jax.Array) -> jax.Array:
        """The logit from `features`.

        Args:
          h: B x feature_dim features.

        Returns:
          B logits.

        >>> # d.head(d.features(x))
        """
        return self.out(h)[:, 0]

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.head(self.features(x, train))
