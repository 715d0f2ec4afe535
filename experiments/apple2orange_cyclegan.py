"""The book's chapter-9 CycleGAN (its notebook, after Keras-GAN): apple2orange at 128x128, U-Net generators
(width 32, four levels), PatchGANs (width 64), MSE adversarial loss, MAE cycle x 10 and identity x 0.9 x 10,
Adam 2e-4 / 0.5 constant, no history pool, batch 1.

    gan-jax data fetch cycle_gan/apple2orange         # once, on a machine with internet
    gan-jax train apple2orange_cyclegan --set data.source=tfds data.name=cycle_gan/apple2orange
    gan-jax train apple2orange_cyclegan --set data.path=DIR      # DIR/trainA, trainB, testA, testB

The notebook trains 100 epochs (~100,000 iterations): hours on a GPU, days here. Tested here at 16x16.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig, TranslateConfig


def get_config() -> Config:
    return Config(
        experiment="apple2orange_cyclegan",
        model=ModelConfig(name="cyclegan"),
        translate=TranslateConfig(generator="unet", width=32, depth=4, d_width=64, d_layers=3, identity=0.9,
                                  pool=0, flip=False),
        data=DataConfig(source="folders", path="datasets/apple2orange", resize=128),
        optim=OptimConfig.both(lr=2e-4, b1=0.5, decay="constant"),
        train=TrainConfig(steps=100_000, batch_size=1, fuse=0, log_interval=100, sample_interval=1_000,
                          checkpoint_interval=1_000),
    )
