"""The CycleGAN paper's horse2zebra recipe: ResNet-9 generators, 70x70 PatchGANs, LSGAN, cycle L1 x 10,
identity 0.5, a pool of 50, Adam 2e-4 / 0.5 for 100 epochs then linearly to 0 over 100 more (1,067 horses:
~213,000 iterations at batch 1), images loaded at 286 and cropped at random to 256, flipped.

    gan-jax data fetch cycle_gan/horse2zebra          # once, on a machine with internet (~110 MB)
    gan-jax train horse2zebra_cyclegan --set data.source=tfds data.name=cycle_gan/horse2zebra
    gan-jax train horse2zebra_cyclegan --set data.path=DIR       # DIR/trainA, trainB, testA, testB
    gan-jax translate RUN --in horses/ --out zebras/

Days on a CPU: a run for a GPU (published: FID 77.2, the CUT paper's measure). Tested here at 16x16.
"""

from gan_jax.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig, TranslateConfig


def get_config() -> Config:
    return Config(
        experiment="horse2zebra_cyclegan",
        model=ModelConfig(name="cyclegan"),
        translate=TranslateConfig(generator="resnet", width=64, blocks=9, d_width=64, d_layers=3, identity=0.5,
                                  pool=50, crop=256, flip=True),
        data=DataConfig(source="folders", path="datasets/horse2zebra", resize=286),
        optim=OptimConfig.both(lr=2e-4, b1=0.5, decay="linear"),
        train=TrainConfig(steps=213_400, batch_size=1, fuse=0, log_interval=100, sample_interval=1_000,
                          checkpoint_interval=1_000),
    )
