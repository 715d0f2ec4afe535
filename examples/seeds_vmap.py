"""Several seeds trained at once: gj.Seeds vmaps the engine's pure init and train_step over stacked states.

    python examples/seeds_vmap.py --seeds 5 --steps 5000

One compiled call advances every seed, each with its own weights, noise and batches (split from its key);
gj.fit gives the stack a run directory like any engine: one grid per seed at each preview, each metric's
mean and per-seed columns in metrics.jsonl. Prints each seed's last losses and writes its samples.
"""

import argparse

import jax
import optax

import gan_jax as gj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--run-dir", default="runs/seeds")
    a = p.parse_args()
    images = gj.data.images("embedded")
    G, D = gj.models.mlp_players(images.shape[1:], z_dim=100)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=100)  # the book's recipe
    seeds = gj.Seeds(gan, a.seeds)  # an engine: states gain a leading axis of size --seeds
    out = gj.fit(seeds, images, run_dir=a.run_dir, steps=a.steps, key=jax.random.key(0), log_interval=a.steps,
                 sample_interval=a.steps, checkpoint_interval=a.steps, progress=False)
    for i in range(a.seeds):
        print(f"seed {i}: d_loss {out.last[f'd_loss/seed{i}']:.3f}, g_loss {out.last[f'g_loss/seed{i}']:.3f}")
    z = gan.noise(jax.random.key(1), 16)
    x = gan.sample(seeds.member(out.state, 0), z)  # one seed's state is a plain GANState
    print(f"all seeds: {out.last_grid}; seed 0 alone: {gj.viz.save_grid(x, f'{a.run_dir}/seed0.png')}")


if __name__ == "__main__":
    main()
