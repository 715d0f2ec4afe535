"""A training loop written by hand over the engine's pure d_step and g_step: no fit, no run directory.

    python examples/hand_loop.py --steps 2000

Each step draws its own real batch and noise from explicit keys and calls D's turn, then G's; each turn
updates only its own player. Everything is one jitted pure function of (state, key).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gan_jax as gj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", default="hand_loop_samples.png")
    a = p.parse_args()
    images = jnp.asarray(gj.data.images("embedded"))
    G, D = gj.models.mlp_players(images.shape[1:], z_dim=100)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=100)  # the book's recipe

    @gj.jit
    def step(state, key):
        k_real, k_d, k_g = jax.random.split(key, 3)
        x_real = images[jax.random.randint(k_real, (a.batch,), 0, images.shape[0])]
        state, d_metrics = gan.d_step(state, x_real, gan.noise(k_d, a.batch))
        state, g_metrics = gan.g_step(state, gan.noise(k_g, a.batch))
        return state.replace(step=state.step + 1), {**d_metrics, **g_metrics}

    state, key = gan.init(jax.random.key(0)), jax.random.key(1)
    for i in range(a.steps):
        state, metrics = step(state, jax.random.fold_in(key, i))
        if (i + 1) % max(1, a.steps // 5) == 0:
            print(f"step {i + 1}: " + ", ".join(f"{k} {float(v):.3f}" for k, v in sorted(metrics.items())))
    samples = np.asarray(gan.sample(state, gan.noise(jax.random.key(2), 16)))
    print(f"wrote {gj.viz.save_grid(samples, a.out)}")


if __name__ == "__main__":
    main()
