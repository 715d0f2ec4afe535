import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gan_jax import models
from gan_jax.config import ModelConfig


def _count(module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_book_players_have_the_books_parameter_counts():
    g, d = models.build(ModelConfig(), (28, 28, 1), seed=0)
    # Keras summaries in the book: generator 114,064 params, discriminator 100,609.
    assert _count(g) == 100 * 128 + 128 + 128 * 784 + 784 == 114_064
    assert _count(d) == 784 * 128 + 128 + 128 + 1 == 100_609


def test_shapes_range_and_leaky_relu():
    g, d = models.build(ModelConfig(z_dim=100, hidden=128), (28, 28, 1), seed=0)
    x = jax.jit(lambda z: g(z))(jax.random.normal(jax.random.key(0), (5, 100)) * 10)
    assert x.shape == (5, 28, 28, 1) and float(jnp.max(jnp.abs(x))) <= 1.0
    logits = d(x)
    assert logits.shape == (5,)
    # the hidden activation is LeakyReLU(0.01): check it on D's first layer by hand
    h = d.net.hidden[0](x.reshape(5, -1))
    manual = np.where(h > 0, h, 0.01 * h) @ np.asarray(d.net.out.kernel[...]) + np.asarray(d.net.out.bias[...])
    np.testing.assert_allclose(np.asarray(logits), manual[:, 0], rtol=1e-5, atol=1e-5)


def test_same_seed_same_weights_different_seed_different():
    a = nnx.state(models.build(ModelConfig(), (28, 28, 1), seed=3)[0], nnx.Param)
    b = nnx.state(models.build(ModelConfig(), (28, 28, 1), seed=3)[0], nnx.Param)
    c = nnx.state(models.build(ModelConfig(), (28, 28, 1), seed=4)[0], nnx.Param)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert not np.array_equal(jax.tree.leaves(a)[1], jax.tree.leaves(c)[1])
