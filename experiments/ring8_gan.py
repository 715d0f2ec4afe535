"""A GAN on the ring of 8 Gaussians (std 0.01), the PacGAN mode-collapse benchmark.

    gan-jax train ring8_gan
    gan-jax train ring8_gan --set gan.pack=2            # PacGAN2
    gan-jax train ring8_gan --set gan.loss=minimax      # the saturating game

The recipe is `experiments/_mixture.py`'s; `python -m experiments.mode_collapse` runs the whole study.
"""

from experiments._mixture import mixture_config


def get_config():
    return mixture_config("ring8")
