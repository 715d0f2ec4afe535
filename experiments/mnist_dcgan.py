"""The book's DCGAN (chapter 4) on MNIST: convolutional players with batch normalization.

    gan-jax train mnist_dcgan
    gan-jax train mnist_dcgan --set data.source=npz data.path=/path/to/mnist.npz

The book's recipe: G Dense(7*7*256) -> ConvTranspose 128 (stride 2) -> BN -> LeakyReLU(0.01) ->
ConvTranspose 64 -> BN -> LeakyReLU -> ConvTranspose 1 (stride 2) -> tanh; D Conv 32 / 64 / 128 (stride 2,
BN after the last two, LeakyReLU(0.01)) -> Dense(1). z_dim 100, batch 128, Adam(1e-3) for each player,
20,000 iterations, D on a real and a fake batch then G through the frozen D, a 4x4 grid every 1,000.
train.fuse=0, the backend's default: one iteration per compiled call on the CPU (XLA:CPU runs conv kernel
gradients far slower inside `lax.scan`, benchmarks/bench_dcgan.py), 100 on a GPU or TPU.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_dcgan",
        model=ModelConfig(name="dcgan", z_dim=100, leak=0.01, d_norm="batch"),
        data=DataConfig(source="auto", name="mnist", sampling="replacement"),
        optim=OptimConfig.both(lr=1e-3, b1=0.9, b2=0.999),
        train=TrainConfig(steps=20_000, batch_size=128, fuse=0, sample_interval=1_000, checkpoint_interval=1_000),
    )
