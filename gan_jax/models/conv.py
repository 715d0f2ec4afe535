"""Convolutions in the forms XLA runs well, with Keras's ('same'-padded) semantics.

`conv(x, w, stride)` is TF/Keras `Conv2D(padding='same')`: a B x H x W x I input, an kh x kw x I x O
kernel, a B x ceil(H/s) x ceil(W/s) x O output (NHWC, HWIO).

`conv_transpose(x, w, stride)` is Keras `Conv2DTranspose(padding='same')`, i.e. TF's
`conv2d_transpose`: the adjoint of `y -> conv(y, w, stride)` for y of size sH x sW, mapping a
B x H x W x O input to B x sH x sW x I (kernel kh x kw x I x O, Keras's layout for this layer).

Why a custom VJP: JAX's autodiff of `lax.conv_transpose` gives a kernel gradient that XLA:CPU runs as
a slow dilated convolution (~2,500 ms vs ~35 ms forward for the DCGAN's 7x7 -> 14x14, 256 -> 128 layer
at batch 128). Since conv_transpose is the adjoint C^T of the strided conv C_w, its gradients are
strided-conv computations that XLA runs well:

    d/dx <g, C_w^T x> = C_w g                  (a forward strided conv of the cotangent)
    d/dw <g, C_w^T x> = d/dw <C_w g, x>         (the strided conv's own kernel gradient at input g)

`conv_transpose_reference` is the plain autodiff formulation; tests check both agree, forward and
gradients. On the CPU, convolutions run on XLA's Eigen kernels rather than YNNPACK (see `gan_jax/__init__.py`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """Keras Conv2D(padding='same', strides=stride), no bias.

    Args:
      x: B x H x W x I. w: kh x kw x I x O. stride: both axes.

    Returns:
      B x ceil(H/s) x ceil(W/s) x O.

    >>> conv(jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 2)), 2).shape
    (1, 2, 2, 2)
    """
    return lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=_DIMS)


def _adjoint(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """C_w^T x: the input-gradient of the strided conv, for an input of `stride` times x's size."""
    b, h, wd, _ = x.shape
    y0 = jnp.zeros((b, h * stride, wd * stride, w.shape[2]), x.dtype)
    _, vjp = jax.vjp(lambda y: conv(y, w, stride), y0)
    return vjp(x)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_transpose(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """Keras Conv2DTranspose(padding='same', strides=stride), no bias, with the fast custom VJP.

    Args:
      x: B x H x W x O. w: kh x kw x I(out) x O(in). stride: both axes.

    Returns:
      B x sH x sW x I.

    >>> conv_transpose(jnp.ones((1, 2, 2, 3)), jnp.ones((3, 3, 1, 3)), 2).shape
    (1, 4, 4, 1)
    """
    return _adjoint(x, w, stride)


def _conv_transpose_fwd(x, w, stride):
    return _adjoint(x, w, stride), (x, w)


def _conv_transpose_bwd(stride, residuals, g):
    x, w = residuals
    dx, kernel_vjp = jax.vjp(lambda k: conv(g, k, stride), w)  # its primal output C_w g is the input gradient
    return dx, kernel_vjp(x)[0]


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose_reference(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """The same layer as `lax.conv_transpose`, differentiated by plain autodiff (slow on XLA:CPU).

    Args:
      x, w, stride: as `conv_transpose`.

    Returns:
      The same output as `conv_transpose`.

    >>> conv_transpose_reference(jnp.ones((1, 2, 2, 3)), jnp.ones((3, 3, 1, 3)), 2).shape
    (1, 4, 4, 1)
    """
    return lax.conv_transpose(x, w, (stride, stride), "SAME", dimension_numbers=_DIMS, transpose_kernel=True)
