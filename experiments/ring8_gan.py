"""A GAN on the ring of 8 Gaussians (std 0.01), the PacGAN mode-collapse benchmark.

    gan-jax train ring8_gan
    gan-jax train ring8_gan --set gan.pack=2            # PacGAN2
    gan-jax train ring8_gan --set gan.loss=minimax      # the saturating game

MLP players (G: 4 x 400 ReLU, linear output; D: 3 x 200 LeakyReLU(0.2)) as in PacGAN's 2-D experiments,
z of dimension 2, batch 100, Adam(1e-4, b1=0.5). Every sample step writes a scatter of 2,500 samples
over the modes and appends the protocol's scores to scores.jsonl.
"""

from gan_jax.config import Config, DataConfig, GANConfig, ModelConfig, OptimConfig, TrainConfig


def get_config(source: str = "ring8") -> Config:
    return Config(
        experiment=f"{source}_gan",
        model=ModelConfig(name="mlp", z_dim=2, hidden=400, layers=4, d_hidden=200, d_layers=3, leak=0.0,
                          output="linear"),
        gan=GANConfig(loss="non_saturating", pack=1),
        data=DataConfig(source=source, sampling="replacement"),
        optim=OptimConfig(lr=1e-4, b1=0.5, b2=0.999),
        train=TrainConfig(steps=20_000, batch_size=100, fuse=100, log_interval=500, sample_interval=2_000,
                          checkpoint_interval=5_000),
    )
