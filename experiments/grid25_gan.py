"""A GAN on the 5 x 5 grid of Gaussians (std 0.05), the PacGAN mode-collapse benchmark.

    gan-jax train grid25_gan
    gan-jax train grid25_gan --set gan.pack=2            # PacGAN2
    gan-jax train grid25_gan --set gan.loss=minimax      # the saturating game

The recipe is `experiments/_mixture.py`'s; `python -m experiments.mode_collapse` runs the whole study.
"""

from experiments._mixture import mixture_config


def get_config():
    return mixture_config("grid25")
