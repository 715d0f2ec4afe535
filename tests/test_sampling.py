"""The keyed permutation behind shuffled epochs: a bijection, different per key, and a fair shuffle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import sampling


@pytest.mark.parametrize("n", [1, 2, 3, 17, 64, 1000, 60000])
def test_permute_is_a_bijection_of_range_n(n):
    out = np.asarray(sampling.permute(jax.random.key(3), jnp.arange(n), n))
    assert sorted(out.tolist()) == list(range(n))


def test_permutations_differ_by_key_and_shuffle_fairly():
    n, trials = 10, 4000
    a = np.asarray(sampling.permute(jax.random.key(0), jnp.arange(1000), 1000))
    b = np.asarray(sampling.permute(jax.random.key(1), jnp.arange(1000), 1000))
    assert (a != b).mean() > 0.9 and (a != np.arange(1000)).mean() > 0.9
    # where does slot 0 go? uniform over the 10 positions (chi-square, 9 dof: 27.9 is p = 0.001)
    keys = jax.random.split(jax.random.key(0), trials)
    first = np.asarray(jax.vmap(lambda k: sampling.permute(k, jnp.arange(1), n)[0])(keys))
    counts = np.bincount(first, minlength=n)
    assert ((counts - trials / n) ** 2 / (trials / n)).sum() < 27.9, counts


def test_an_epoch_reads_every_example_once():
    key, n, b = jax.random.key(5), 103, 10
    seen = np.concatenate([np.asarray(sampling.batch_indices(key, jnp.int32(s), n, b, "epoch")) for s in range(10)])
    assert len(set(seen.tolist())) == 100  # 10 batches of 10 distinct examples; 3 left out this epoch
    nxt = np.asarray(sampling.batch_indices(key, jnp.int32(10), n, b, "epoch"))
    assert not np.array_equal(nxt, seen[:10])  # the next epoch is shuffled anew
