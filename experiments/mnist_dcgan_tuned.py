"""A tuned DCGAN on MNIST: the book's players with the settings DCGAN practice converged on.

    gan-jax train mnist_dcgan_tuned --set data.source=npz data.path=../shared/data/mnist.npz

Changes from `mnist_dcgan` (the book's), each a known remedy:
- Adam(2e-4, b1=0.5) for both players (Radford et al. 2016): the book's 1e-3 with b1=0.9 makes the
  two players overshoot each other;
- an exponential moving average of G's weights (decay 0.999) for sampling (Yazici et al. 2019): it
  averages out G's oscillation around the equilibrium the players never reach;
- shuffled epochs instead of batches drawn with replacement (every digit is seen once per epoch).
"""

from gan_jax.config import Config, DataConfig, GANConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_dcgan_tuned",
        model=ModelConfig(name="dcgan", z_dim=100, leak=0.01, d_norm="batch"),
        gan=GANConfig(loss="non_saturating", ema_decay=0.999),
        data=DataConfig(source="auto", name="mnist", sampling="epoch"),
        optim=OptimConfig.both(lr=2e-4, b1=0.5, b2=0.999),
        train=TrainConfig(steps=20_000, batch_size=128, fuse=1, sample_interval=1_000, checkpoint_interval=1_000),
    )
