"""The semi-supervised GAN's baseline: the same D trained on the same 100 labels alone (book chapter 7).

    gan-jax train mnist_sgan_supervised --seeds 5 --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax eval RUN                  # its test accuracy, beside mnist_sgan's

Everything is `mnist_sgan`'s (players, labelled subsets, budget, optimiser) except the loss, whose
adversarial term has weight 0 in D's loss: D learns only the labelled batch's cross-entropy, so the gap
between the two runs is what the unlabelled images and the game add. (G still trains, matching D's
features; D never sees its fakes' gradient.)
"""

from experiments import mnist_sgan
from gan_jax.config import Config


def get_config() -> Config:
    return mnist_sgan.get_config("mnist_sgan_supervised", "supervised_only")
