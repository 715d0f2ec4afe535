"""The variational autoencoder of *GANs in Action* (chapter 2) on MNIST.

    gan-jax train mnist_vae
    gan-jax train mnist_vae --set data.source=npz data.path=/path/to/mnist.npz

The book's model: encoder 784 -> Dense(256, ReLU) -> the mean and log-variance of a 2-d latent;
z = mean + exp(logvar / 2) * eps (eps from the step's key); decoder 2 -> Dense(256, ReLU) -> 784 sigmoid;
loss = Bernoulli reconstruction (binary cross-entropy summed over pixels) + KL to N(0, I). Batch 100,
50 epochs of 60,000 digits (30,000 steps); Adam 1e-3 (the book compiles with RMSprop). The run ends
with the test-set ELBO and the chapter's figures (latent scatter, 15 x 15 manifold, reconstructions,
interpolations, prior samples); see `gan_jax.ae_report`.
"""

from gan_jax.config import AEConfig, Config, DataConfig, ModelConfig, OptimConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="mnist_vae",
        model=ModelConfig(name="vae", z_dim=2, hidden=256, layers=1),
        ae=AEConfig(activation="relu", likelihood="bernoulli"),
        data=DataConfig(source="auto", name="mnist", sampling="epoch"),
        optim=OptimConfig.both(lr=1e-3),
        train=TrainConfig(steps=30_000, batch_size=100, fuse=100, log_interval=500, sample_interval=5_000,
                          checkpoint_interval=5_000),
    )
