"""pix2pix from edge maps to digits: A is each MNIST digit's Sobel edges, B the digit (pairs), offline.

    gan-jax train edges2digits_pix2pix
    gan-jax train edges2digits_pix2pix --set translate.adversarial=false     # the L1-only baseline
    gan-jax eval RUN          # the shipped classifier's accuracy on G(edges) and the FD to test digits

A U-Net of two levels (28 -> 14 -> 7, width 32) against a two-layer PatchGAN of (edges, digit) pairs,
L1 x 100 beside the adversarial loss, Adam 2e-4 / 0.5 constant then linearly to 0, batch 16.
docs/translation.md has the results.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig, TranslateConfig


def get_config() -> Config:
    return Config(
        experiment="edges2digits_pix2pix",
        model=ModelConfig(name="pix2pix"),
        translate=TranslateConfig(width=32, depth=2, d_width=32, d_layers=2, lambda_l1=100.0, flip=False),
        data=DataConfig(source="auto", name="mnist", pair="edges"),
        optim=OptimConfig.both(lr=2e-4, b1=0.5, decay="linear"),
        train=TrainConfig(steps=5_000, batch_size=16, fuse=1, log_interval=100, sample_interval=500,
                          checkpoint_interval=1_000),
    )
