import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gan_jax import models


def _build(shape=(28, 28, 1), name="mlp", seed=0, **kwargs):
    """(G, D) modules of the book's players, both initialised from one nnx.Rngs(seed) (G first)."""
    factories = (models.mlp_players if name == "mlp" else models.dcgan_players)(shape, **kwargs)
    rngs = nnx.Rngs(seed)
    return tuple(f(rngs=rngs) for f in factories)


def _count(module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_book_players_have_the_books_parameter_counts():
    g, d = _build()
    # Keras summaries in the book: generator 114,064 params, discriminator 100,609.
    assert _count(g) == 100 * 128 + 128 + 128 * 784 + 784 == 114_064
    assert _count(d) == 784 * 128 + 128 + 128 + 1 == 100_609


def test_shapes_range_and_leaky_relu():
    g, d = _build(z_dim=100, hidden=128)
    x = jax.jit(lambda z: g(z))(jax.random.normal(jax.random.key(0), (5, 100)) * 10)
    assert x.shape == (5, 28, 28, 1) and float(jnp.max(jnp.abs(x))) <= 1.0
    logits = d(x)
    assert logits.shape == (5,)
    # the hidden activation is LeakyReLU(0.01): check it on D's first layer by hand
    h = d.net.hidden[0](x.reshape(5, -1))
    manual = np.where(h > 0, h, 0.01 * h) @ np.asarray(d.net.out.kernel[...]) + np.asarray(d.net.out.bias[...])
    np.testing.assert_allclose(np.asarray(logits), manual[:, 0], rtol=1e-5, atol=1e-5)


def test_same_seed_same_weights_different_seed_different():
    a = nnx.state(_build(seed=3)[0], nnx.Param)
    b = nnx.state(_build(seed=3)[0], nnx.Param)
    c = nnx.state(_build(seed=4)[0], nnx.Param)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert not np.array_equal(jax.tree.leaves(a)[1], jax.tree.leaves(c)[1])


def _count_stats(module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.BatchStat)))


def test_dcgan_players_have_the_books_layers_and_parameter_counts():
    g, d = _build(name="dcgan")
    # G: Dense 100 -> 7*7*256, ConvT 3x3 256->128, BN(128), ConvT 3x3 128->64, BN(64), ConvT 3x3 64->1
    assert _count(g) == (100 * 12544 + 12544) + (9 * 256 * 128 + 128) + 2 * 128 + (9 * 128 * 64 + 64) + 2 * 64 \
        + (9 * 64 + 1) == 1_636_737
    # D: Conv 1->32, Conv 32->64, BN(64), Conv 64->128, BN(128), Dense 4*4*128 -> 1
    assert _count(d) == (9 * 32 + 32) + (9 * 32 * 64 + 64) + 2 * 64 + (9 * 64 * 128 + 128) + 2 * 128 + 2048 + 1 == 95_105
    assert _count_stats(g) == _count_stats(d) == 2 * (128 + 64)  # running mean and variance
    assert _count(_build(name="dcgan", d_norm="none")[1]) == 95_105 - 384
    x = g(jax.random.normal(jax.random.key(0), (3, 100)), train=True)
    assert x.shape == (3, 28, 28, 1) and float(jnp.max(jnp.abs(x))) <= 1.0
    assert d(x, train=True).shape == (3,)


def test_dcgan_discriminator_stacks_packed_samples_along_channels():
    _, d = _build(name="dcgan", d_norm="none", pack=2)
    assert d.conv1.kernel.shape == (3, 3, 2, 32)
    x = jax.random.normal(jax.random.key(1), (4, 28, 28, 1))
    pairs = jnp.concatenate([x[0::2], x[1::2]], axis=-1)  # sample 2k in channel 0, 2k+1 in channel 1
    d.pack = 1  # the same D reading the pairs stacked by hand
    by_hand = d(pairs)
    d.pack = 2
    np.testing.assert_allclose(np.asarray(d(x)), np.asarray(by_hand), rtol=1e-6)
    swapped = x[jnp.array([1, 0, 2, 3])]  # order within a pack matters (channels), across packs not
    assert float(d(swapped)[0]) != float(d(x)[0]) and float(d(swapped)[1]) == float(d(x)[1])


def test_dcgan_needs_images_divisible_by_four():
    import pytest

    with pytest.raises(ValueError, match="H and W divisible by 4"):
        models.dcgan_players((2,))
