"""A GAN on a 1-D mixture of two Gaussians at -2 and +2 (std 0.2).

    gan-jax train bimodal1d_gan
    gan-jax train bimodal1d_gan --set gan.pack=2            # PacGAN2
    gan-jax train bimodal1d_gan --set gan.loss=minimax      # the saturating game

The recipe is `experiments/_mixture.py`'s; `python -m experiments.mode_collapse` runs the whole study.
"""

from experiments._mixture import mixture_config


def get_config():
    return mixture_config("bimodal1d")
