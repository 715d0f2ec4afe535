"""ACGAN (Odena et al. 2017) on MNIST: the DCGAN discriminator with an auxiliary classifier head.

    gan-jax train mnist_acgan --set data.source=npz data.path=/path/to/mnist.npz

D returns its real/fake logit and 10 class logits on its features; both players add the classifier's
cross-entropy to the book's non-saturating loss (`gan_jax.losses.ACGANLoss`): D on real samples, G on its
own, so G learns to draw digits the classifier reads as the label asked for. (The paper's D also learns
G's samples under their labels; with that, G collapsed here to a few shapes whatever the label, so the
classifier learns from real digits only, as in the Keras ACGAN example.) D takes one joint step on the
real and fake batch. G and the recipe are `mnist_cgan`'s.
"""

from experiments import mnist_cgan
from gan_jax.config import Config


def get_config() -> Config:
    return mnist_cgan.get_config("acgan", "mnist_acgan")
