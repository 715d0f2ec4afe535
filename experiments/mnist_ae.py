"""The autoencoder of *GANs in Action* (chapter 2) on MNIST: 784 -> 256 -> latent -> 256 -> 784.

    gan-jax train mnist_ae
    gan-jax train mnist_ae --set model.z_dim=2                  # a 2-d code, plotted directly
    gan-jax train mnist_ae --set model.name=conv_ae train.fuse=1   # the convolutional variant (single steps on CPU)
    gan-jax train mnist_ae --set ae.task=denoise ae.noise=masking ae.noise_level=0.5

ReLU MLPs, a linear 32-d code, sigmoid output with binary cross-entropy (the book's loss), batch 100,
20 epochs of 60,000 digits, Adam 1e-3. The run ends with the test-set reconstruction log-likelihood and
the figures of `gan_jax.ae_report`.
"""

from gan_jax.config import AEConfig, Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_ae",
        model=ModelConfig(name="ae", z_dim=32, hidden=256, layers=1),
        ae=AEConfig(activation="relu", likelihood="bernoulli"),
        data=DataConfig(source="auto", name="mnist", sampling="epoch"),
        optim=OptimConfig.both(lr=1e-3),
        train=TrainConfig(steps=12_000, batch_size=100, fuse=100, log_interval=500, sample_interval=4_000,
                          checkpoint_interval=4_000),
    )
