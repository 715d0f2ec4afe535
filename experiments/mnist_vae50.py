"""A VAE in the IWAE paper's setting (Burda et al. 2016), trained on the ELBO; `ae.k` > 1 trains the IWAE.

    gan-jax train mnist_vae50 --set data.source=npz data.path=/path/to/mnist.npz
    gan-jax train mnist_vae50 --set ae.k=50 data.source=npz data.path=/path/to/mnist.npz   # IWAE, k = 50
    gan-jax likelihood RUN_DIR --k 5000                                                         # test NLL

Dynamically binarized MNIST (each batch's pixels drawn from Bernoulli(intensity)), a 50-d latent, two
200-unit tanh layers on each side, Bernoulli decoder, batch 20, Adam(1e-3, b1 0.9, b2 0.999, eps 1e-4 in
the paper; optax's default eps here) decayed to 0 by a cosine. The paper trains 3,280 epochs; the
default here is 100 (300,000 steps); see docs/autoencoders.md for the budget behind each number.
"""

from gan_jax.config import AEConfig, Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_vae50",
        model=ModelConfig(name="vae", z_dim=50, hidden=200, layers=2),
        ae=AEConfig(activation="tanh", likelihood="bernoulli", binarize=True, k=1),
        data=DataConfig(source="auto", name="mnist", sampling="epoch"),
        optim=OptimConfig.both(lr=1e-3, decay="cosine"),
        train=TrainConfig(steps=300_000, batch_size=20, fuse=500, log_interval=5_000, sample_interval=50_000,
                          checkpoint_interval=10_000),
    )
