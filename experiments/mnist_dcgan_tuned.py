"""A tuned DCGAN on MNIST: the book's players and recipe, plus R1 on D and an EMA of G for sampling.

    gan-jax train mnist_dcgan_tuned --set data.source=npz data.path=/path/to/mnist.npz

Changes from `mnist_dcgan` (the book's), each measured in `docs/dcgan.md`:
- an R1 penalty on D (Mescheder et al. 2018), gamma 0.1: gamma/2 * E|grad_x D(x)|^2 on the real batch.
  In the book's run D's input gradients grow steep (1/2 mean |grad_x D|^2 of ~566 on a real batch at
  10,000 iterations); R1 keeps them at ~1-2 and G's samples closer to the data;
- an exponential moving average of G's weights (decay 0.999, warmed up) for sampling (Yazici et al. 2019):
  it averages out G's oscillation around the equilibrium the players never reach. It does not change
  training; `gan-jax eval --weights live` scores the trained G instead.
Everything else is the book's: Adam(1e-3, b1=0.9) for both players (Adam(2e-4, b1=0.5), the usual
DCGAN setting, learned more slowly here), batches drawn with replacement, 20,000 iterations.
R1 differentiates D twice on the real batch, so an iteration costs ~20% more than the book's.
"""

from gan_jax.config import Config, DataConfig, GANConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_dcgan_tuned",
        model=ModelConfig(name="dcgan", z_dim=100, leak=0.01, d_norm="batch"),
        gan=GANConfig(loss="non_saturating", r1_weight=0.1, ema_decay=0.999),
        data=DataConfig(source="auto", name="mnist", sampling="replacement"),
        optim=OptimConfig.both(lr=1e-3, b1=0.9, b2=0.999),
        train=TrainConfig(steps=20_000, batch_size=128, fuse=0, sample_interval=1_000, checkpoint_interval=1_000),
    )
