"""A relativistic loss (RpGAN) on the book's MLP players, and a loss of your own written as one function.

    python examples/relativistic.py --steps 5000

A loss is any `loss(real_logits, fake_logits) -> (d_loss, g_loss)`. One that compares the real and the
fake batch cannot split into a real and a fake term, so D takes one joint step on it and G's turn also
shows D a real batch; the engine works this out from the loss (a `gj.losses.SplitLoss` keeps the book's
split D update).
"""

import argparse

import jax
import jax.numpy as jnp
import optax

import gan_jax as gj


def soft_rpgan(real_logits, fake_logits, margin=1.0):
    """RpGAN with a margin: D wants each real logit `margin` above its paired fake one."""
    diff = real_logits - fake_logits
    return jnp.mean(jax.nn.softplus(margin - diff)), jnp.mean(jax.nn.softplus(diff - margin))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--run-dir", default="runs/relativistic")
    a = p.parse_args()
    images = gj.data.images("embedded")
    G, D = gj.models.mlp_players(images.shape[1:], z_dim=100)  # the book's chapter-3 players
    for name, loss in (("rpgan", gj.losses.rpgan), ("soft_rpgan", soft_rpgan)):
        gan = gj.GAN(G, D, optax.adam(2e-4, b1=0.5), optax.adam(2e-4, b1=0.5), loss=loss, z_dim=100, r1_weight=0.1)
        interval = max(1, a.steps // 5)
        out = gj.fit(gan, images, run_dir=f"{a.run_dir}/{name}", steps=a.steps, key=jax.random.key(0),
                     log_interval=interval, sample_interval=interval, checkpoint_interval=a.steps, fuse=interval)
        print(f"{name}: d_update={gan.settings.d_update}, d_loss {out.last['d_loss']:.3f}, "
              f"g_loss {out.last['g_loss']:.3f} -> {out.last_grid}")


if __name__ == "__main__":
    main()
