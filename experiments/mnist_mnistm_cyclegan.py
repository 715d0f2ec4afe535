"""CycleGAN between MNIST digits (A, grey) and MNIST-M (B: the other half of the digits blended into the colour
photographs scikit-learn ships, as Ganin & Lempitsky built MNIST-M from BSDS500), all offline.

    gan-jax train mnist_mnistm_cyclegan
    gan-jax train mnist_mnistm_cyclegan --set data.source=npz data.path=/path/to/mnist.npz   # 60,000 digits
    gan-jax eval RUN          # b2a: the shipped MNIST classifier on translated MNIST-M; a2b: a classifier of B

A small ResNet generator (width 8, 3 blocks; 60k parameters) and a two-layer PatchGAN of width 16 (5x5 patches of 28x28), LSGAN, cycle
L1 x 10, no identity loss (the domains have 1 and 3 channels), a pool of 50, Adam 2e-4 / 0.5 constant then
linearly to 0, batch 16, no crop or flip (a digit flipped is another shape). docs/translation.md has the results.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig, TranslateConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_mnistm_cyclegan",
        model=ModelConfig(name="cyclegan"),
        translate=TranslateConfig(generator="resnet", width=8, blocks=3, d_width=16, d_layers=2, identity=0.0,
                                  pool=50, flip=False),
        data=DataConfig(source="auto", name="mnist", pair="mnist_m"),
        optim=OptimConfig.both(lr=2e-4, b1=0.5, decay="linear"),
        train=TrainConfig(steps=10_000, batch_size=16, fuse=1, log_interval=100, sample_interval=1_000,
                          checkpoint_interval=1_000),
    )
