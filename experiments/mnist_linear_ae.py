"""The linear autoencoder: the book's link to PCA (one weight matrix each side, no activation).

    gan-jax train mnist_linear_ae

Squared-error loss (a Gaussian likelihood), a 16-d code, Adam 1e-3. At its optimum the decoder's
columns span the top-16 principal subspace of the data (Baldi & Hornik 1989); `tests/test_autoencode.py`
checks the principal angles on data with a known spectrum.
"""

from gan_jax.config import AEConfig, Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_linear_ae",
        model=ModelConfig(name="linear_ae", z_dim=16),
        ae=AEConfig(likelihood="gaussian", sigma=1.0),
        data=DataConfig(source="auto", name="mnist", sampling="epoch"),
        optim=OptimConfig.both(lr=1e-3),
        train=TrainConfig(steps=10_000, batch_size=100, fuse=100, log_interval=500, sample_interval=5_000,
                          checkpoint_interval=5_000),
    )
