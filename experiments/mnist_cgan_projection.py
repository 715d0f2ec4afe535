"""The conditional GAN of `mnist_cgan` with a projection discriminator (Miyato & Koyama 2018).

    gan-jax train mnist_cgan_projection --set data.source=npz data.path=/path/to/mnist.npz

D's logit is head(phi(x)) + <embed(y), phi(x)>, phi the DCGAN discriminator's features: the label enters
as an inner product with what D sees, not as an input channel. G and the recipe are `mnist_cgan`'s.
"""

from experiments import mnist_cgan
from gan_jax.config import Config


def get_config() -> Config:
    return mnist_cgan.get_config("projection", "mnist_cgan_projection")
