"""A BiGAN (Donahue et al. 2017) as a three-player `gj.Game`: G maps codes to digits, E digits to codes, and
D tells real pairs (x, E(x)) from fake ones (G(z), z). D takes one turn, then G and E one together.

    python examples/bigan.py --steps 6000
    gan-jax sample runs/bigan --n 64 --out bigan.png --trust    # a new process rebuilds the game (engine.json)

1-NN accuracy of held-out digits in E's 32-d codes vs raw pixels, 6,000 iterations: 0.859 vs 0.925 (chance 0.1).
"""

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gan_jax as gj
from gan_jax.models import mlp

Z = 32


def net(d_in, d_out, rngs, width=512):  # a plain MLP player: E on digits, D on (digit, code) pairs
    return nnx.Sequential(nnx.Linear(d_in, width, rngs=rngs), functools.partial(jax.nn.leaky_relu, negative_slope=0.2),
                          nnx.Linear(width, width, rngs=rngs), functools.partial(jax.nn.leaky_relu, negative_slope=0.2),
                          nnx.Linear(width, d_out, rngs=rngs))


def logits(nets, x, z):  # D on pairs; x: B x 28 x 28 x 1
    return nets.D(jnp.concatenate([x.reshape(len(x), -1), z], axis=1))[:, 0]


def d_loss(nets, x, key):
    z = nets.noise(key, len(x))
    real, fake = logits(nets, x, nets.E(x.reshape(len(x), -1))), logits(nets, nets.G(z), z)
    return jnp.mean(jax.nn.softplus(-real) + jax.nn.softplus(fake)), {"d_acc_real": jnp.mean(real > 0)}


def ge_loss(nets, x, key):  # the non-saturating opposite: G and E try to swap D's answers
    z = nets.noise(key, len(x))
    real, fake = logits(nets, x, nets.E(x.reshape(len(x), -1))), logits(nets, nets.G(z), z)
    return jnp.mean(jax.nn.softplus(real) + jax.nn.softplus(-fake))


def nearest_label_accuracy(db, db_labels, queries, labels) -> float:
    d2 = (queries**2).sum(1)[:, None] - 2 * queries @ db.T + (db**2).sum(1)[None]
    return float(np.mean(db_labels[np.argmin(d2, axis=1)] == labels))


@gj.recipe  # the run records bigan(rate=...), from which another process rebuilds it
def bigan(rate: float = 2e-4) -> gj.Game:
    adam = optax.adam(rate, b1=0.5)
    return gj.Game(players={"G": functools.partial(mlp.Generator, Z, (28, 28, 1), 512, 2, 0.2),
                            "E": functools.partial(net, 784, Z), "D": functools.partial(net, 784 + Z, 1)},
                   tx={"G": adam, "E": adam, "D": adam}, turns=[gj.Turn("D", d_loss), gj.Turn(("G", "E"), ge_loss)],
                   sample=lambda nets, z: nets.G(z), noise=lambda key, n: jax.random.normal(key, (n, Z)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6000), p.add_argument("--run-dir", default="runs/bigan")
    a = p.parse_args()
    train, test = (gj.data.load(gj.data.DataConfig(source="embedded", split=s)) for s in ("train", "test"))
    game, every = bigan(), max(1, a.steps // 5)
    out = gj.fit(game, train, run_dir=a.run_dir, steps=a.steps, fuse=min(every, 100), log_interval=every,
                 sample_interval=every, checkpoint_interval=every, progress=False)
    encode = jax.jit(lambda s, x: game.nets(s).E(x.reshape(len(x), -1)))
    codes = [np.asarray(encode(out.state, jnp.asarray(d.images))) for d in (train, test)]
    pixels = [d.images.reshape(len(d.images), -1) for d in (train, test)]
    for name, (db, q) in (("E's codes (32-d)", codes), ("raw pixels (784-d)", pixels)):
        print(f"1-NN accuracy on {len(test.labels)} held-out digits, {name}: "
              f"{nearest_label_accuracy(db, train.labels, q, test.labels):.3f}")
    print(f"samples: {out.last_grid}")


if __name__ == "__main__":
    main()
