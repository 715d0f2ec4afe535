"""A conditional GAN from the library's parts: labelled noise, conditional players, the same engine and fit.

    python examples/conditional.py --steps 5000

G(z, y) and D(x, y) wrap the book's MLP players with a projection discriminator; the dataset is the pair
(images, labels) and the fake batch's labels are drawn inside the compiled step. Writes a grid with one
row per digit, and the same z drawn as a 3 and as an 8.
"""

import argparse
import functools

import jax
import optax

import gan_jax as gj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--run-dir", default="runs/conditional")
    a = p.parse_args()
    ds = gj.data.load(gj.data.DataConfig(source="embedded"))
    base = functools.partial(gj.models.mlp_players, z_dim=64)
    G, D = gj.models.conditional_players(base, ds.image_shape, classes=10, z_dim=64, conditioning="projection")
    noise = gj.conditional.LabelledNoise(z_dim=64, classes=10)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=64, noise=noise, batch_size=64)
    out = gj.fit(gan, (ds.images, ds.labels), run_dir=a.run_dir, steps=a.steps, log_interval=a.steps,
                 sample_interval=a.steps, checkpoint_interval=a.steps, progress=False)
    z, _ = noise.for_labels(jax.random.key(7), [0])
    x3, _ = gan.sample(out.state, (z, jax.numpy.array([3])))
    x8, _ = gan.sample(out.state, (z, jax.numpy.array([8])))
    pair = gj.viz.save_grid(jax.numpy.concatenate([x3, x8]), f"{a.run_dir}/three_and_eight.png", cols=2)
    print(f"one row per digit: {out.last_grid}; the same z as a 3 and an 8: {pair}")


if __name__ == "__main__":
    main()
