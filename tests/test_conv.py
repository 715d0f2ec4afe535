"""The fast convolution formulations equal the plain ones, forward and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import conv


def _rel(a, b) -> float:
    return float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-30))


@pytest.mark.parametrize("size, stride, c_out, c_in", [(7, 2, 8, 16), (14, 1, 4, 8), (14, 2, 1, 4), (5, 2, 3, 2), (4, 3, 2, 3)])
def test_conv_transpose_equals_lax_conv_transpose_forward_and_gradients(size, stride, c_out, c_in):
    k1, k2, k3 = jax.random.split(jax.random.key(size * 10 + stride), 3)
    x = jax.random.normal(k1, (3, size, size, c_in))
    w = jax.random.normal(k2, (3, 3, c_out, c_in))
    fast = jax.jit(conv.conv_transpose, static_argnums=2)(x, w, stride)
    plain = conv.conv_transpose_reference(x, w, stride)
    assert fast.shape == (3, size * stride, size * stride, c_out)  # Keras 'same': H -> stride * H
    assert _rel(fast, plain) < 1e-5
    g = jax.random.normal(k3, fast.shape)

    def grads(f):
        return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w, stride) * g), argnums=(0, 1)))(x, w)

    for a, b in zip(grads(conv.conv_transpose), grads(conv.conv_transpose_reference)):
        assert _rel(a, b) < 1e-5


def test_conv_transpose_is_the_adjoint_of_the_strided_conv():
    """<C y, x> = <y, C^T x> for random y, x: the defining property, independent of lax.conv_transpose."""
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    w = jax.random.normal(k1, (3, 3, 4, 6))
    y = jax.random.normal(k2, (2, 14, 14, 4))
    x = jax.random.normal(k3, (2, 7, 7, 6))
    lhs = jnp.sum(conv.conv(y, w, 2).astype(jnp.float64 if jax.config.x64_enabled else jnp.float32) * x)
    rhs = jnp.sum(y * conv.conv_transpose(x, w, 2))
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-4)


def test_conv_transpose_of_a_single_pixel_places_the_kernel():
    """One nonzero input pixel at (1, 1) of a 3x3 map with stride 2 writes the (flipped-free) kernel
    centred at output (2, 2) for TF's SAME padding of the forward conv (pad 0 before, 1 after)."""
    w = jnp.arange(9.0).reshape(3, 3, 1, 1)
    x = jnp.zeros((1, 3, 3, 1)).at[0, 1, 1, 0].set(1.0)
    y = np.asarray(conv.conv_transpose(x, w, 2))[0, :, :, 0]
    # forward conv output (p, q) reads input (2p + i, 2q + j) with tap (i, j) (no padding before)
    want = np.zeros((6, 6))
    want[2:5, 2:5] = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("size, stride", [(14, 2), (14, 1), (7, 2), (5, 3)])
def test_conv_kernel_grad_equals_autodiff(size, stride):
    k1, k2 = jax.random.split(jax.random.key(size + stride))
    y = jax.random.normal(k1, (2, size, size, 3))
    w = jnp.zeros((3, 3, 3, 5))
    out = conv.conv(y, w, stride)
    g = jax.random.normal(k2, out.shape)
    want = jax.vjp(lambda k: conv.conv(y, k, stride), w)[1](g)[0]
    got = jax.jit(conv.conv_kernel_grad, static_argnums=(2, 3))(y, g, (3, 3), stride)
    assert _rel(got, want) < 1e-5
