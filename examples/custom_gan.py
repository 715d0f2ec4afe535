"""Your own convolutional G and D, the hinge loss and R1, trained by gj.fit (resumable, with grids).

    python examples/custom_gan.py --steps 3000 --run-dir runs/custom_gan   # again with --resume to go on

G and D are plain Flax NNX modules: G maps B x z_dim noise to B x 28 x 28 x 1 images in [-1, 1], D maps
images to one logit each; both take `train=` (unused here: no batch statistics). The engine is given
factories (`functools.partial(...)`) so `gan.init(key)` draws fresh weights.
"""

import argparse
import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import gan_jax as gj
from gan_jax.models.dcgan import ConvTranspose  # Keras-style 'same' transposed conv, fast gradients on CPU


class Generator(nnx.Module):
    def __init__(self, z_dim: int, width: int, *, rngs: nnx.Rngs):
        self.width = width
        self.fc = nnx.Linear(z_dim, 7 * 7 * 2 * width, rngs=rngs)
        self.up1 = ConvTranspose(2 * width, width, 4, 2, rngs=rngs)  # 7x7 -> 14x14
        self.up2 = ConvTranspose(width, 1, 4, 2, rngs=rngs)  # 14x14 -> 28x28

    def __call__(self, z, train: bool = False):
        h = jax.nn.relu(self.fc(z)).reshape(z.shape[0], 7, 7, 2 * self.width)
        return jnp.tanh(self.up2(jax.nn.relu(self.up1(h))))


class Discriminator(nnx.Module):
    def __init__(self, width: int, *, rngs: nnx.Rngs):
        self.c1 = nnx.Conv(1, width, (4, 4), strides=(2, 2), rngs=rngs)
        self.c2 = nnx.Conv(width, 2 * width, (4, 4), strides=(2, 2), rngs=rngs)
        self.out = nnx.Linear(7 * 7 * 2 * width, 1, rngs=rngs)

    def __call__(self, x, train: bool = False):
        h = jax.nn.leaky_relu(self.c2(jax.nn.leaky_relu(self.c1(x), 0.2)), 0.2)
        return self.out(h.reshape(h.shape[0], -1))[:, 0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--run-dir", default="runs/custom_gan")
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    images = gj.data.images("embedded")  # 4,000 real digits shipped offline; any N x 28 x 28 x 1 array works
    gan = gj.GAN(functools.partial(Generator, 64, a.width), functools.partial(Discriminator, a.width),
                 g_tx=optax.adam(2e-4, b1=0.5), d_tx=optax.adam(2e-4, b1=0.5), loss=gj.losses.hinge, z_dim=64,
                 r1_weight=1.0, batch_size=a.batch)
    interval = max(1, a.steps // 4)
    out = gj.fit(gan, images, run_dir=a.run_dir, steps=a.steps, key=jax.random.key(0), resume=a.resume,
                 log_interval=interval, sample_interval=interval, checkpoint_interval=interval)
    print(f"{out.reason} at step {out.step}: d_loss {out.last['d_loss']:.3f}, g_loss {out.last['g_loss']:.3f}, "
          f"R1 {out.last['d_r1']:.3f}; grid {out.last_grid}")


if __name__ == "__main__":
    main()
