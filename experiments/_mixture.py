"""The shared recipe of the Gaussian-mixture experiments (ring8_gan, grid25_gan, bimodal1d_gan)."""

from gan_jax.config import Config, DataConfig, GANConfig, ModelConfig, OptimConfig, TrainConfig


def mixture_config(source: str) -> Config:
    """MLP players (G: 3 x 128, D: 2 x 128, LeakyReLU(0.2), linear output), z of dimension 2, batch 100,
    Adam(1e-3, b1=0.5) decayed to 0 by a cosine, 20,000 iterations; a scatter of 2,500 samples with the
    protocol's scores every 2,000."""
    return Config(
        experiment=f"{source}_gan",
        model=ModelConfig(name="mlp", z_dim=2, hidden=128, layers=3, d_hidden=128, d_layers=2, leak=0.2,
                          output="linear"),
        gan=GANConfig(loss="non_saturating", pack=1),
        data=DataConfig(source=source, sampling="replacement"),
        optim=OptimConfig.both(lr=1e-3, b1=0.5, b2=0.999, decay="cosine"),
        train=TrainConfig(steps=20_000, batch_size=100, fuse=100, log_interval=500, sample_interval=2_000,
                          checkpoint_interval=5_000),
    )
