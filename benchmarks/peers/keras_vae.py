"""Keras 3 (TensorFlow backend) peer of the book's chapter-2 VAE, trained with `model.fit`, for
`benchmarks/bench_peers.py --models vae`.

    python benchmarks/peers/keras_vae.py --variant fit|fit_xla|fit_xla_spe100 [--epochs 5] [--batch 100]

The same work per iteration as `gan-jax train mnist_vae`: a batch of 100 of 60,000 in-memory 784-pixel
images in [0, 1] (random, shuffled every epoch: data loading is not measured), encoder 784 -> Dense(256,
ReLU) -> mean and log-variance of a 2-d latent, z = mean + exp(logvar / 2) * eps, decoder 2 -> Dense(256,
ReLU) -> 784 logits, loss = Bernoulli reconstruction (binary cross-entropy summed over pixels, from
logits) + KL to N(0, I), one Adam(1e-3) step. The book's Keras loop is `vae.fit(x, x, batch_size=100)`.

Variants: `fit` = `model.fit` with a custom `train_step` run by tf.function (Keras' default), `fit_xla` =
the same compiled by XLA (`jit_compile=True`), `fit_xla_spe100` = also 100 steps per call
(`steps_per_execution=100`, like `train.fuse=100`). The first epoch (tracing, compiling) is warm-up;
prints one JSON line with the steady-state iterations/s of the epochs after it.
"""

import argparse
import json
import math
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

VARIANTS = {"fit": (False, 1), "fit_xla": (True, 1), "fit_xla_spe100": (True, 100)}  # (jit_compile, steps/call)
N, PIXELS, HIDDEN, LATENT = 60_000, 784, 256, 2


class VAE(keras.Model):
    """The book's VAE; `train_step` is what `model.fit` calls per batch."""

    def __init__(self, seed: int):
        super().__init__()
        x = keras.Input((PIXELS,))
        h = layers.Dense(HIDDEN, activation="relu")(x)
        self.encoder = keras.Model(x, [layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)])
        z = keras.Input((LATENT,))
        self.decoder = keras.Model(z, layers.Dense(PIXELS)(layers.Dense(HIDDEN, activation="relu")(z)))
        self.noise = keras.random.SeedGenerator(seed)
        self.tracker = keras.metrics.Mean(name="nll")  # the epoch's mean loss, as Keras' VAE example keeps it

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, x):
        with tf.GradientTape() as tape:
            mean, logvar = self.encoder(x, training=True)
            z = mean + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mean), seed=self.noise)
            logits = self.decoder(z, training=True)
            reconstruction = ops.sum(ops.softplus(logits) - x * logits, axis=1)  # BCE from logits
            kl = -0.5 * ops.sum(1.0 + logvar - ops.square(mean) - ops.exp(logvar), axis=1)
            loss = ops.mean(reconstruction + kl)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.tracker.update_state(loss)
        return {"nll": self.tracker.result()}


class EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        self.losses.append(float(logs["nll"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=list(VARIANTS), default="fit")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs of 600 steps, after one of warm-up")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    keras.utils.set_random_seed(args.seed)
    x = np.random.default_rng(args.seed).uniform(0.0, 1.0, (N, PIXELS)).astype(np.float32)
    jit, per_call = VARIANTS[args.variant]
    vae = VAE(args.seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=per_call)
    times = EpochTimes()
    vae.fit(x, batch_size=args.batch, epochs=1 + args.epochs, shuffle=True, verbose=0, callbacks=[times])
    steps = N // args.batch
    timed = sum(times.seconds[1:])
    print(json.dumps({"framework": "keras", "variant": args.variant, "model": "vae", "batch": args.batch,
                      "iters": steps * args.epochs, "iters_per_sec": steps * args.epochs / timed,
                      "warmup_s": times.seconds[0], "loss_first": times.losses[0], "loss_last": times.losses[-1],
                      "trains_ok": all(math.isfinite(v) for v in times.losses) and times.losses[-1] < times.losses[0],
                      "tf": tf.__version__, "keras": keras.__version__}), flush=True)


if __name__ == "__main__":
    main()
