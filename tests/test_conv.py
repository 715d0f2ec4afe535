"""The fast convolution formulations equal the plain ones, forward and gradients."""

import os
import subprocess
import sys

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


def test_gj_jit_compiles_cpu_convolutions_as_the_xla_flag_did_and_import_changes_no_environment():
    """In fresh processes: importing gan_jax changes no environment variable (XLA_FLAGS included); gan_jax.jit compiles a conv + dot +
    reduction program exactly as plain jax.jit did under the old XLA_FLAGS option (convolutions off
    YNNPACK, dots and reductions on it); GAN_JAX_CPU_EIGEN_CONVOLUTIONS=0 or a user's own XLA_FLAGS value
    give JAX's compilation instead."""
    probe = (
        "import os, sys, hashlib, jax, jax.numpy as jnp\n"
        "before = dict(os.environ)  # after importing jax, which sets two variables of its own\n"
        "import gan_jax, gan_jax.build, gan_jax.cli\n"
        "assert dict(os.environ) == before, 'importing gan_jax changed the environment'\n"
        "from gan_jax.models import conv\n"
        "def f(x, w, m):\n"
        "    y = jnp.tanh(conv.conv(x, w, 2)).reshape(x.shape[0], -1) @ m\n"
        "    return jnp.sum(y ** 2, axis=0), jax.grad(lambda w: jnp.sum(conv.conv(x, w, 2) ** 2))(w)\n"
        "args = (jnp.ones((128, 14, 14, 64)), jnp.ones((3, 3, 64, 32)), jnp.ones((7 * 7 * 32, 100)))\n"
        "jit = gan_jax.jit if sys.argv[1] == 'gj' else jax.jit\n"
        "print(hashlib.sha1(jit(f).lower(*args).compile().as_text().encode()).hexdigest())\n"
    )

    def run(which, **env):
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", **env}
        out = subprocess.run([sys.executable, "-c", probe, which], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip()

    old_flag = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
    eigen = run("gj")
    assert eigen == run("jax", XLA_FLAGS=old_flag)  # the same program the import-time flag gave
    default = run("jax")
    assert eigen != default  # and not JAX's own default: the option does something
    assert run("gj", GAN_JAX_CPU_EIGEN_CONVOLUTIONS="0") == default  # turned off
    assert run("gj", XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=") == run(
        "jax", XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=")  # the user's XLA_FLAGS win


def test_on_a_gpu_jit_compiles_deterministically_unless_told_not_to(monkeypatch):
    """What `gj.jit` adds per backend: the CPU convolution option on the CPU only; on a GPU the
    deterministic-ops option (a resumed run's new compile must pick the same kernels), off by switch or by
    the user's XLA_FLAGS; the option's name is one this jaxlib accepts (an unknown one fails to compile)."""
    from gan_jax import xla

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(xla.GPU_SWITCH, raising=False)
    assert xla.compiler_options() == xla.CPU_OPTIONS  # this machine
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert xla.compiler_options() == {"xla_gpu_deterministic_ops": True}
    assert xla.compiler_options(deterministic=False) == {}
    monkeypatch.setenv(xla.GPU_SWITCH, "0")
    assert xla.compiler_options() == {}
    monkeypatch.delenv(xla.GPU_SWITCH)
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
    assert xla.compiler_options() == {}
    monkeypatch.setattr(jax, "default_backend", lambda: "tpu")
    monkeypatch.delenv("XLA_FLAGS")
    assert xla.compiler_options() == {}
    compiled = jax.jit(lambda x: x * 2, compiler_options=xla.GPU_OPTIONS)  # accepted by name (here on the CPU)
    assert float(compiled(jnp.ones(()))) == 2.0
