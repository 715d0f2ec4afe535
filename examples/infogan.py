"""InfoGAN (Chen et al. 2016) as a `gj.Game`: G(z, c) with a 10-way code c; D's body also feeds a Q head that
guesses c from G's samples. Both turns add Q's cross-entropy (the mutual-information bound), so G learns to
make c visible: with no labels, each code comes to draw one kind of digit.

    python examples/infogan.py --steps 10000

Scored by the shipped classifier on 100 samples per code, codes matched one to one to digits: 0.644 of the
samples are their code's digit at 10,000 iterations (2 min here, one seed; 4/7/9 and 5/8 share codes; chance 0.1).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy.optimize import linear_sum_assignment

import gan_jax as gj
from gan_jax.models import mlp

Z, K = 62, 10


class DQ(nnx.Module):  # one body, two heads: D's real/fake logit and Q's guess of the code
    def __init__(self, rngs, width=512):
        self.a, self.b = nnx.Linear(784, width, rngs=rngs), nnx.Linear(width, width, rngs=rngs)
        self.d, self.q = nnx.Linear(width, 1, rngs=rngs), nnx.Linear(width, K, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.leaky_relu(self.b(jax.nn.leaky_relu(self.a(x.reshape(len(x), -1)), 0.2)), 0.2)
        return self.d(h)[:, 0], self.q(h)


def noise(key, n, code=None):  # z, then a one-hot code (random, or the given one)
    kz, kc = jax.random.split(key)
    c = jax.random.randint(kc, (n,), 0, K) if code is None else jnp.full((n,), code)
    return jnp.concatenate([jax.random.normal(kz, (n, Z)), jax.nn.one_hot(c, K)], axis=1)


def info(q_logits, zc):  # Q's cross-entropy on the code: minus the mutual-information bound, up to H(c)
    return -jnp.mean(jnp.sum(jax.nn.log_softmax(q_logits) * zc[:, Z:], axis=1))


def d_loss(nets, x, key):
    zc = nets.noise(key, len(x))
    (real, _), (fake, q) = nets.D(x), nets.D(nets.G(zc))
    return jnp.mean(jax.nn.softplus(-real) + jax.nn.softplus(fake)) + info(q, zc), {"info_d": info(q, zc)}


def g_loss(nets, x, key):
    zc = nets.noise(key, len(x))
    fake, q = nets.D(nets.G(zc))
    return jnp.mean(jax.nn.softplus(-fake)) + info(q, zc), {"info_g": info(q, zc)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--run-dir", default="runs/infogan")
    a = p.parse_args()
    G = lambda rngs: mlp.Generator(Z + K, (28, 28, 1), 512, 2, 0.2, rngs=rngs)  # noqa: E731
    game = gj.Game({"G": G, "D": DQ}, {"G": optax.adam(1e-3, b1=0.5), "D": optax.adam(2e-4, b1=0.5)},
                   [gj.Turn("D", d_loss), gj.Turn("G", g_loss)], sample=lambda nets, zc: nets.G(zc), noise=noise)
    every = max(1, a.steps // 5)
    out = gj.fit(game, gj.data.images("embedded"), run_dir=a.run_dir, steps=a.steps, fuse=min(every, 100),
                 log_interval=every, sample_interval=every, checkpoint_interval=every, progress=False)
    rows = [game.sample(out.state, noise(jax.random.key(k), 100, k)) for k in range(K)]  # 100 samples per code
    counts = np.array([np.bincount(gj.metrics.features(np.asarray(x))[1].argmax(1), minlength=10) for x in rows])
    matching = dict(zip(*(m.tolist() for m in linear_sum_assignment(-counts))))  # code -> digit, most agreeing
    print(f"shipped classifier's accuracy on samples grouped by code, after matching codes to digits: "
          f"{sum(counts[c, d] for c, d in matching.items()) / counts.sum():.3f} (code -> digit: {matching})")
    grid = np.concatenate([np.asarray(x[:10]) for x in rows])  # one row per code
    print(f"one row per code: {gj.viz.save_grid(grid, out.run_dir / 'codes.png', cols=10)}")


if __name__ == "__main__":
    main()
