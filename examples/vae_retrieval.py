"""A VAE used for latent retrieval (nearest neighbours in its code) and a decoded grid of its 2-d latent.

    python examples/vae_retrieval.py --steps 6000

`ae.embed(state, images)` and `ae.decode(state, z)` take and give images in [-1, 1], in batches.
Retrieval: each test digit's 10 nearest training codes; precision@10 is the share with the same label
(chance is 10%).
"""

import argparse

import jax
import numpy as np
import optax

import gan_jax as gj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--run-dir", default="runs/vae_retrieval")
    p.add_argument("--out", default="vae_latent_grid.png")
    a = p.parse_args()
    train, test = (gj.data.load(gj.data.DataConfig(source="embedded", split=s)) for s in ("train", "test"))
    vae = gj.models.autoencoder.build("vae", (28, 28, 1), (28, 28, 1), z_dim=2, hidden=256)  # the book's VAE
    ae = gj.Autoencoder(vae, optax.adam(1e-3), batch_size=100)
    interval = max(1, a.steps // 4)
    out = gj.fit(ae, train, run_dir=a.run_dir, steps=a.steps, key=jax.random.key(0), fuse=interval,
                 log_interval=interval, sample_interval=interval, checkpoint_interval=interval)
    print(f"trained {out.step} steps: loss {out.last['loss']:.1f} nats")

    db, queries = ae.embed(out.state, train.images), ae.embed(out.state, test.images)  # N x 2 codes
    d2 = ((queries[:, None, :] - db[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d2, axis=1)[:, :10]
    precision = float((train.labels[nearest] == test.labels[:, None]).mean())
    print(f"latent retrieval precision@10: {100 * precision:.1f}% (chance 10%)")

    axis = np.asarray(jax.scipy.special.ndtri(np.linspace(0.05, 0.95, 15)), np.float32)  # the book's manifold
    grid = np.array([[x, y] for y in axis[::-1] for x in axis], np.float32)
    print(f"wrote {gj.viz.save_grid(ae.decode(out.state, grid), a.out, cols=15)}")


if __name__ == "__main__":
    main()
