"""CycleGAN between MNIST digits (A) and scikit-learn's 1,797 UCI handwritten digits (B: 8x8 scans of other
writers, values 0..16, upsampled to 28x28), all offline: the MNIST-to-USPS kind of pair, harder than MNIST-M.

    gan-jax train mnist_uci_cyclegan
    gan-jax train mnist_uci_cyclegan --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax eval RUN          # b2a: the shipped MNIST classifier on translated UCI digits

The players and rules of mnist_mnistm_cyclegan (a small ResNet G, a two-layer PatchGAN, LSGAN, cycle L1 x 10,
no identity loss: it would hold the UCI digits' larger, thicker strokes in place). docs/translation.md has
the results.
"""

import dataclasses

from experiments import mnist_mnistm_cyclegan


def get_config():
    cfg = mnist_mnistm_cyclegan.get_config()
    return dataclasses.replace(cfg, experiment="mnist_uci_cyclegan", data=dataclasses.replace(cfg.data, pair="uci"))
