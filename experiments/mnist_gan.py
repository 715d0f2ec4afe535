"""The first GAN of *GANs in Action* (chapter 3): MLP generator and discriminator on MNIST.

    gan-jax train mnist_gan                                   # the book's recipe on the default data
    gan-jax train mnist_gan --set data.source=npz --set data.path=/path/to/mnist.npz

The book's recipe: batch 128, 20,000 iterations, z_dim 100, one hidden layer of 128 units with
LeakyReLU(0.01) in each player, Adam(1e-3) for each, a random real batch per iteration, D trained on a
real and a fake batch, then G through the frozen D with "real" labels; a 4x4 sample grid every 1,000.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_gan",
        model=ModelConfig(name="mlp", z_dim=100, hidden=128, leak=0.01),
        data=DataConfig(source="auto", name="mnist", sampling="replacement"),
        optim=OptimConfig.both(lr=1e-3, b1=0.9, b2=0.999),
        train=TrainConfig(steps=20_000, batch_size=128, sample_interval=1_000, checkpoint_interval=1_000),
    )
