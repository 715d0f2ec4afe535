"""Convolutions in the forms XLA runs well, with Keras's ('same'-padded) semantics.

`conv(x, w, stride)` is TF/Keras `Conv2D(padding='same')`: a B x H x W x I input, an kh x kw x I x O
kernel, a B x ceil(H/s) x ceil(W/s) x O output (NHWC, HWIO).

`conv_transpose(x, w, stride)` is Keras `Conv2DTranspose(padding='same')`, i.e. TF's
`conv2d_transpose`: the adjoint of `y -> conv(y, w, stride)` for y of size sH x sW, mapping a
B x H x W x O input to B x sH x sW x I (kernel kh x kw x I x O, Keras's layout for this layer).

Why a custom VJP: JAX's autodiff of `lax.conv_transpose` gives a kernel gradient that XLA:CPU runs as
a slow dilated convolution (~1,000 ms vs ~23 ms forward for the DCGAN's 7x7 -> 14x14, 256 -> 128 layer
at batch 128). Since conv_transpose is the adjoint C^T of the strided conv C_w, its gradients are
strided-conv computations that XLA runs well:

    d/dx <g, C_w^T x> = C_w g                  (a forward strided conv of the cotangent)
    d/dw <g, C_w^T x> = d/dw <C_w g, x>         (the strided conv's kernel gradient at input g)

The strided conv's kernel gradient itself is computed as one GEMM per kernel tap (`conv_kernel_grad`):
XLA:CPU's own kernel-gradient convolution was ~2x slower for these layers (measured in
benchmarks/bench_dcgan.py). `conv_transpose_reference` is the plain autodiff formulation; tests check both agree, forward and
gradients.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """Keras Conv2D(padding='same', strides=stride), no bias."""
    return lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=_DIMS)


def _same_padding(size: int, out: int, k: int, stride: int) -> tuple[int, int]:
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2  # TF's SAME: the odd pixel goes after


def conv_kernel_grad(y: jax.Array, g: jax.Array, kernel_hw: tuple[int, int], stride: int) -> jax.Array:
    """d/dw <g, conv(y, w, stride)>: for each tap (i, j), the strided slice of the padded input that
    tap reads, as a (B*Ho*Wo) x I matrix, times g as a (B*Ho*Wo) x O matrix -> kh x kw x I x O."""
    (kh, kw), (b, h, w, i), (_, ho, wo, o) = kernel_hw, y.shape, g.shape
    yp = jnp.pad(y, ((0, 0), _same_padding(h, ho, kh, stride), _same_padding(w, wo, kw, stride), (0, 0)))
    g2 = g.reshape(-1, o)
    taps = [
        lax.slice(yp, (0, r, c, 0), (b, r + (ho - 1) * stride + 1, c + (wo - 1) * stride + 1, i),
                  (1, stride, stride, 1)).reshape(-1, i).T @ g2
        for r in range(kh) for c in range(kw)
    ]
    return jnp.stack(taps).reshape(kh, kw, i, o)


def _adjoint(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """C_w^T x: the input-gradient of the strided conv, for an input of `stride` times x's size."""
    b, h, wd, _ = x.shape
    y0 = jnp.zeros((b, h * stride, wd * stride, w.shape[2]), x.dtype)
    _, vjp = jax.vjp(lambda y: conv(y, w, stride), y0)
    return vjp(x)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_transpose(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """Keras Conv2DTranspose(padding='same', strides=stride), no bias; kernel kh x kw x I(out) x O(in)."""
    return _adjoint(x, w, stride)


def _conv_transpose_fwd(x, w, stride):
    return _adjoint(x, w, stride), (x, w)


def _conv_transpose_bwd(stride, residuals, g):
    x, w = residuals
    return conv(g, w, stride), conv_kernel_grad(g, x, w.shape[:2], stride)


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose_reference(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """The same layer as `lax.conv_transpose`, differentiated by plain autodiff (slow on XLA:CPU)."""
    return lax.conv_transpose(x, w, (stride, stride), "SAME", dimension_numbers=_DIMS, transpose_kernel=True)
