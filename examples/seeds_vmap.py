"""Several seeds trained at once: jax.vmap over the engine's pure init and train_step.

    python examples/seeds_vmap.py --seeds 5 --steps 5000

The seeds' states are stacked along a leading axis; one compiled call advances all of them, each with its
own weights, noise and batches (all split from its key). Per-seed losses and sample grids at the end.
"""

import argparse

import jax
import numpy as np
import optax

import gan_jax as gj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=500, help="iterations per compiled call")
    p.add_argument("--out", default="seeds")
    a = p.parse_args()
    images = jax.device_put(gj.data.images("embedded"))
    G, D = gj.models.mlp_players(images.shape[1:], z_dim=100)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=100)  # the book's recipe

    keys = jax.random.split(jax.random.key(0), a.seeds)
    states = jax.vmap(gan.init)(keys)  # every leaf gains a leading axis of size --seeds
    chunk = min(a.chunk, a.steps)
    advance = gj.jit(jax.vmap(gj.repeat(gan.train_step, chunk), in_axes=(0, None)), donate_argnums=0)
    for done in range(chunk, a.steps + 1, chunk):
        states, metrics = advance(states, images)  # metrics: seeds x chunk
        d, g = np.asarray(metrics["d_loss"]).mean(1), np.asarray(metrics["g_loss"]).mean(1)
        print(f"step {done}: d_loss " + " ".join(f"{x:.3f}" for x in d) + " | g_loss " + " ".join(f"{x:.3f}" for x in g))
    z = gan.noise(jax.random.key(1), 16)
    samples = np.asarray(jax.vmap(gan.sample, in_axes=(0, None))(states, z))  # seeds x 16 x 28 x 28 x 1
    for i, x in enumerate(samples):
        print(f"seed {i}: {gj.viz.save_grid(x, f'{a.out}_{i}.png')}")


if __name__ == "__main__":
    main()
