"""The book's conditional GAN (chapter 8) on MNIST: G(z, y) and D(x, y) around the DCGAN players.

    gan-jax train mnist_cgan --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax sample RUN --n 10 --label all --out digits.png       # one row per digit
    gan-jax train mnist_cgan --set model.name=mlp               # the same conditioning on the MLP players

The book's conditioning: G multiplies z by a learned 100-d embedding of the label; D sees the label as a
learned 28 x 28 map joined to the image as a second channel. The chapter's recipe otherwise: Adam(1e-3)
for both players, batch 32, 12,000 iterations, a grid every 1,000 (here one row per digit). Labels of the
fake batch are drawn inside the compiled step; the real batch brings its own.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config(conditioning: str = "concat", experiment: str = "mnist_cgan") -> Config:
    return Config(
        experiment=experiment,
        model=ModelConfig(name="dcgan", z_dim=100, leak=0.01, d_norm="batch", classes=10, conditioning=conditioning),
        data=DataConfig(source="auto", name="mnist", sampling="replacement"),
        optim=OptimConfig.both(lr=1e-3, b1=0.9, b2=0.999),
        train=TrainConfig(steps=12_000, batch_size=32, fuse=0, sample_interval=1_000, checkpoint_interval=1_000),
    )
