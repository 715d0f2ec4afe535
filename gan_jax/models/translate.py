"""Image-to-image players: the CycleGAN paper's ResNet generator, the book's U-Net generator and the 70x70
PatchGAN discriminator (Zhu et al. 2017; Isola et al. 2017), NHWC, for images of 16x16 to 256x256 with
any number of channels (the input's and the output's may differ: grey -> colour).

ResnetGenerator (the reference implementation's `resnet_{6,9}blocks`): ReflectionPad 3 -> Conv 7x7 (width)
-> norm -> ReLU; two Conv 3x3 stride 2 (width x2, x4) -> norm -> ReLU; `blocks` residual blocks of
[ReflectionPad 1 -> Conv 3x3 -> norm -> ReLU -> ReflectionPad 1 -> Conv 3x3 -> norm] + x; two ConvTranspose
3x3 stride 2 -> norm -> ReLU; ReflectionPad 3 -> Conv 7x7 (out channels) -> tanh. Sizes divisible by 4.

UNet (the book's notebook, Keras-GAN's CycleGAN): `depth` levels of Conv 4x4 stride 2 -> LeakyReLU(0.2)
-> norm (width, x2, x4, x8, ...); back up with nearest Upsample x2 -> Conv 4x4 -> ReLU -> norm ->
concatenate the skip; Upsample x2 -> Conv 4x4 (out channels) -> tanh. Sizes divisible by 2^depth.

PatchGAN (`n_layers_D`): Conv 4x4 stride 2 (width) -> LeakyReLU(0.2); `layers - 1` more Conv 4x4 stride 2
(width x2, x4, x8 at most) -> norm -> LeakyReLU; Conv 4x4 stride 1 (x2 more, at most x8) -> norm ->
LeakyReLU; Conv 4x4 stride 1 (1): one logit per patch. Padding 1 as the reference, so 3 layers see 70x70
patches and give 30x30 logits at 256x256; `layers` must leave at least 1x1.

norm "instance" is `nnx.InstanceNorm` without scale or offset (the reference's `affine=False`);
"none" skips it. Weights ~ N(0, 0.02), biases 0, as the reference initialises them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gan_jax.models import conv

NORMS = ("instance", "none")
_INIT = nnx.initializers.normal(0.02)


def _norm(features: int, norm: str, rngs: nnx.Rngs):
    if norm not in NORMS:
        raise ValueError(f"norm: got {norm!r}, expected one of {', '.join(NORMS)}")
    if norm == "none":
        return lambda x: x
    return nnx.InstanceNorm(features, epsilon=1e-5, use_scale=False, use_bias=False, rngs=rngs)


def reflect(x: jax.Array, p: int) -> jax.Array:
    """Reflection padding of the two spatial axes (PyTorch's ReflectionPad2d).

    Args:
      x: B x H x W x C. p: pixels on each side.

    Returns:
      B x (H + 2p) x (W + 2p) x C.

    >>> reflect(jnp.arange(3.0).reshape(1, 1, 3, 1), 1)[0, 0, :, 0].tolist()
    [1.0, 0.0, 1.0, 2.0, 1.0]
    """
    return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


class Conv(nnx.Module):
    """A k x k convolution with a bias: `padding` "same", or an int of zero padding on each side."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int = 1,
                 padding: str | int = "same", *, rngs: nnx.Rngs):
        self.stride, self.padding = stride, padding
        self.kernel = nnx.Param(_INIT(rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel[...]
        pad = "SAME" if self.padding == "same" else ((self.padding, self.padding),) * 2
        y = jax.lax.conv_general_dilated(x.astype(k.dtype), k, (self.stride,) * 2, pad,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + self.bias[...]


class ConvTranspose(nnx.Module):
    """A 3x3 (k x k) stride-2 transposed convolution with a bias: H x W -> 2H x 2W (`conv.conv_transpose`,
    whose gradients XLA:CPU runs fast)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, *, rngs: nnx.Rngs):
        self.kernel = nnx.Param(_INIT(rngs.params(), (kernel_size, kernel_size, out_features, in_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel[...]
        return conv.conv_transpose(x.astype(k.dtype), k, 2) + self.bias[...]


def _check_size(shape, multiple: int, what: str, fix: str) -> None:
    h, w = shape[:2]
    if h < 16 or w < 16 or h > 256 or w > 256 or h % multiple or w % multiple:
        raise ValueError(f"image_shape: {what} takes images of 16x16 to 256x256 with sides divisible by {multiple}, "
                         f"got {h}x{w}; {fix}")


class ResnetGenerator(nnx.Module):
    """The CycleGAN paper's generator (see the module docstring).

    Args:
      in_channels, out_channels: of the images it maps from and to. width: the first layer's features (the
      paper: 64). blocks: residual blocks (the paper: 9 at 256x256, 6 at 128x128). norm: "instance" or "none".
      rngs: draws the weights.

    >>> g = ResnetGenerator(1, 3, width=8, blocks=2, rngs=nnx.Rngs(0))
    >>> g(jnp.zeros((2, 16, 16, 1))).shape
    (2, 16, 16, 3)
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9, norm: str = "instance",
                 *, rngs: nnx.Rngs):
        if blocks < 0 or width < 1:
            raise ValueError(f"blocks: >= 0 residual blocks of width >= 1, got {blocks} of {width}")
        self.stem = Conv(in_channels, width, 7, padding=0, rngs=rngs)
        self.stem_norm = _norm(width, norm, rngs)
        self.down = nnx.List([Conv(width * 2**i, width * 2 ** (i + 1), 3, 2, padding=1, rngs=rngs) for i in range(2)])
        self.down_norm = nnx.List([_norm(width * 2 ** (i + 1), norm, rngs) for i in range(2)])
        w = width * 4
        self.blocks = nnx.List([nnx.List([Conv(w, w, 3, padding=0, rngs=rngs), _norm(w, norm, rngs),
                                          Conv(w, w, 3, padding=0, rngs=rngs), _norm(w, norm, rngs)])
                                for _ in range(blocks)])
        self.up = nnx.List([ConvTranspose(width * 2 ** (2 - i), width * 2 ** (1 - i), rngs=rngs) for i in range(2)])
        self.up_norm = nnx.List([_norm(width * 2 ** (1 - i), norm, rngs) for i in range(2)])
        self.head = Conv(width, out_channels, 7, padding=0, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        _check_size(x.shape[1:], 4, "the ResNet generator", "resize the images (data.resize) or crop them")
        h = jax.nn.relu(self.stem_norm(self.stem(reflect(x, 3))))
        for layer, norm in zip(self.down, self.down_norm):
            h = jax.nn.relu(norm(layer(h)))
        for conv1, norm1, conv2, norm2 in self.blocks:
            r = jax.nn.relu(norm1(conv1(reflect(h, 1))))
            h = h + norm2(conv2(reflect(r, 1)))
        for layer, norm in zip(self.up, self.up_norm):
            h = jax.nn.relu(norm(layer(h)))
        return jnp.tanh(self.head(reflect(h, 3)))


def _upsample(x: jax.Array) -> jax.Array:
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class UNet(nnx.Module):
    """The book's U-Net generator (see the module docstring); pix2pix's generator here too.

    Args:
      in_channels, out_channels: of the images it maps from and to. width: the first level's features (the
      book: 32). depth: levels down (the book: 4, for sizes divisible by 16). norm: "instance" or "none".
      rngs: draws the weights.

    >>> g = UNet(3, 1, width=4, depth=2, rngs=nnx.Rngs(0))
    >>> g(jnp.zeros((1, 28, 28, 3))).shape
    (1, 28, 28, 1)
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, depth: int = 4, norm: str = "instance",
                 *, rngs: nnx.Rngs):
        if depth < 1 or width < 1:
            raise ValueError(f"depth: a U-Net needs >= 1 level of width >= 1, got {depth} of {width}")
        self.depth = depth
        widths = [width * 2**i for i in range(depth)]
        self.down = nnx.List([Conv(c_in, c, 4, 2, rngs=rngs) for c_in, c in zip([in_channels] + widths, widths)])
        self.down_norm = nnx.List([_norm(c, norm, rngs) for c in widths])
        # level i (deepest first) upsamples widths[i] features to widths[i - 1], then takes that level's skip
        self.up = nnx.List([Conv(widths[i] * (1 if i == depth - 1 else 2), widths[i - 1], 4, rngs=rngs)
                            for i in range(depth - 1, 0, -1)])
        self.up_norm = nnx.List([_norm(widths[i - 1], norm, rngs) for i in range(depth - 1, 0, -1)])
        self.head = Conv(widths[0] * (2 if depth > 1 else 1), out_channels, 4, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        _check_size(x.shape[1:], 2**self.depth, f"a U-Net of depth {self.depth}",
                    "resize the images (data.resize) or use a U-Net of fewer levels (depth)")
        skips, h = [], x
        for layer, norm in zip(self.down, self.down_norm):
            h = norm(jax.nn.leaky_relu(layer(h), 0.2))
            skips.append(h)
        for layer, norm, skip in zip(self.up, self.up_norm, reversed(skips[:-1])):
            h = jnp.concatenate([norm(jax.nn.relu(layer(_upsample(h)))), skip], axis=-1)
        return jnp.tanh(self.head(_upsample(h)))


def patch_grid(size: int, layers: int) -> int:
    """The side of a PatchGAN's logit grid for inputs of side `size` (kernel 4, padding 1).

    Args:
      size: the input's side. layers: its stride-2 layers.

    Returns:
      The output's side (0 or less: too many layers).

    >>> patch_grid(256, 3), patch_grid(28, 2)
    (30, 5)
    """
    for _ in range(layers):
        size = (size + 2 - 4) // 2 + 1
    return size - 2  # two stride-1 layers, each one pixel smaller


class PatchGAN(nnx.Module):
    """The 70x70 PatchGAN discriminator (`layers`=3; see the module docstring): one logit per patch.

    Args:
      in_channels: of the images it judges (pix2pix: input and output channels together). width: the first
      layer's features (the paper: 64). layers: stride-2 layers (3: 70x70 patches). norm: "instance" or "none".
      rngs: draws the weights.

    >>> d = PatchGAN(3, width=8, layers=2, rngs=nnx.Rngs(0))
    >>> d(jnp.zeros((2, 28, 28, 3))).shape
    (2, 5, 5)
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "instance", *, rngs: nnx.Rngs):
        if layers < 1 or width < 1:
            raise ValueError(f"d_layers: a PatchGAN needs >= 1 stride-2 layer of width >= 1, got {layers} of {width}")
        self.layers = layers
        widths = [width * min(2**i, 8) for i in range(layers + 1)]
        self.convs = nnx.List([Conv(c_in, c, 4, 2 if i < layers else 1, padding=1, rngs=rngs)
                               for i, (c_in, c) in enumerate(zip([in_channels] + widths[:-1], widths))])
        self.norms = nnx.List([_norm(c, norm, rngs) for c in widths[1:]])
        self.head = Conv(widths[-1], 1, 4, padding=1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        side = min(patch_grid(x.shape[1], self.layers), patch_grid(x.shape[2], self.layers))
        if side < 1:
            raise ValueError(f"d_layers: a PatchGAN of {self.layers} stride-2 layers leaves no patch of a "
                             f"{x.shape[1]}x{x.shape[2]} image; use fewer (2 at 28x28, 3 from 64x64)")
        h = jax.nn.leaky_relu(self.convs[0](x), 0.2)
        for layer, norm in zip(self.convs[1:], self.norms):
            h = jax.nn.leaky_relu(norm(layer(h)), 0.2)
        return self.head(h)[..., 0]
