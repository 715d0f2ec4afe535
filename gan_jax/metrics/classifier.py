"""The frozen MNIST classifier whose features the evaluator measures (like TF-GAN's mnist_frechet_distance).

A small CNN trained by the project: Conv(32, 3x3) -> ReLU -> maxpool 2 -> Conv(64, 3x3) -> ReLU -> maxpool 2
-> Dense(128) -> ReLU [the 128-d features] -> Dense(10) [the logits]. Trained with Adam on shuffled epochs,
its learning rate decayed to 0 by a cosine, deterministic for a seed; saved with orbax beside a `classifier.json` that records its config, its data
and its test accuracy.

    gan-jax classifier --set data.source=npz data.path=/path/to/mnist.npz    # >= 99% test accuracy
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import xla
from gan_jax.checkpoint import Checkpoints
from gan_jax.config import ConfigError, DataConfig

DEFAULT_DIR = Path("runs") / "mnist_classifier"


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    data: DataConfig = DataConfig(source="auto")
    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    eval_batch: int = 1000

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr: must be > 0, got {self.lr}")


class CNN(nnx.Module):
    def __init__(self, image_shape: tuple[int, int, int], classes: int = 10, *, rngs: nnx.Rngs):
        h, w, c = image_shape
        self.conv1 = nnx.Conv(c, 32, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, (3, 3), rngs=rngs)
        self.dense = nnx.Linear((h // 4) * (w // 4) * 64, 128, rngs=rngs)
        self.out = nnx.Linear(128, classes, rngs=rngs)

    def features(self, x_BxHxWxC: jax.Array) -> jax.Array:
        """The 128-d penultimate features the evaluator's metrics use.

        Args:
          x_BxHxWxC: images in [-1, 1].

        Returns:
          B x 128.

        >>> # feats = cnn.features(images)
        """
        h = nnx.max_pool(jax.nn.relu(self.conv1(x_BxHxWxC)), (2, 2), (2, 2))
        h = nnx.max_pool(jax.nn.relu(self.conv2(h)), (2, 2), (2, 2))
        return jax.nn.relu(self.dense(h.reshape((h.shape[0], -1))))

    def __call__(self, x_BxHxWxC: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(features_Bx128, logits_Bx10)."""
        f = self.features(x_BxHxWxC)
        return f, self.out(f)


@dataclasses.dataclass
class Classifier:
    """A trained classifier as a pure function of its parameters."""

    graph: nnx.GraphDef
    params: nnx.State
    image_shape: tuple[int, int, int]
    info: dict

    def __post_init__(self):
        self._apply = xla.jit(lambda p, x: nnx.merge(self.graph, p)(x))

    def apply(self, images: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(features N x 128, class probabilities N x 10) of images in [-1, 1], in fixed-size batches.

        Args:
          images: N x H x W x C in [-1, 1]. batch: images per compiled call (padded to one shape).

        Returns:
          Two numpy arrays.

        >>> # feats, probs = classifier.load().apply(images)
        """
        feats, probs = [], []
        for i in range(0, len(images), batch):
            chunk = np.asarray(images[i : i + batch], np.float32)
            pad = batch - len(chunk)
            if pad:  # one compiled shape for every batch
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), np.float32)])
            f, logits = self._apply(self.params, chunk)
            feats.append(np.asarray(f)[: batch - pad])
            probs.append(np.asarray(jax.nn.softmax(logits))[: batch - pad])
        return np.concatenate(feats), np.concatenate(probs)


def _template(image_shape, seed: int = 0):
    return nnx.split(CNN(tuple(image_shape), rngs=nnx.Rngs(seed)))


def train(cfg: ClassifierConfig, out_dir: str | Path = DEFAULT_DIR, log=print) -> Classifier:
    """Trains the CNN on cfg.data's train split, measures it on the test split, saves it to `out_dir`.

    Args:
      cfg: a ClassifierConfig. out_dir: where. log: a print function.

    Returns:
      The trained Classifier (its info holds the test accuracy).

    >>> # clf = train(config_from_overrides(["data.source=npz", "data.path=mnist.npz"]))
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise config_lib.ConfigError(f"--out {out_dir} already exists and is not empty; choose another folder")
    train_ds = data_lib.load(dataclasses.replace(cfg.data, split="train"))
    test_ds = data_lib.load(dataclasses.replace(cfg.data, split="test"))
    if train_ds.images.ndim != 4:
        raise config_lib.ConfigError(f"data: the classifier needs images, got samples of shape {train_ds.image_shape}")
    clf = fit(train_ds.images, train_ds.labels, test_ds.images, test_ds.labels, cfg, log, train_ds.source)
    acc = clf.info["test_accuracy"]
    params = clf.params
    resolved = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=train_ds.kind))  # never "auto"
    info = {"config": dataclasses.asdict(resolved), "train_data": train_ds.describe(), "test_data": test_ds.describe(),
            "test_accuracy": acc, "image_shape": list(train_ds.image_shape)}
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        ckpt = Checkpoints(out_dir / "checkpoint", keep=1)
        ckpt.save(cfg.epochs, params)
        ckpt.close()
        (out_dir / "classifier.json").write_text(json.dumps(info, indent=2) + "\n")  # written last: marks it complete
    except BaseException:
        import shutil

        shutil.rmtree(out_dir)
        raise
    return Classifier(clf.graph, params, train_ds.image_shape, info)


def fit(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
        cfg: ClassifierConfig = ClassifierConfig(), log=print, what: str = "the images",
        every_epoch: bool = True) -> Classifier:
    """Trains the CNN on arrays in memory (what `train` and the translation metrics' judge of a second
    domain use); deterministic for cfg.seed.

    Args:
      images, labels: N x H x W x C in [-1, 1] (H, W divisible by 4) and N int labels 0..9.
      test_images, test_labels: what its accuracy is measured on. cfg: epochs, batch_size, lr, seed,
      eval_batch. log: a print function (None: silent). what: the data's name in the log.
      every_epoch: measure the test accuracy after every epoch (False: after the last only).

    Returns:
      A Classifier whose info holds {"test_accuracy"}.

    >>> x = np.zeros((8, 8, 8, 1), np.float32)
    >>> clf = fit(x, np.zeros(8, int), x, np.zeros(8, int), ClassifierConfig(epochs=1, batch_size=4), None)
    >>> clf.info["test_accuracy"]
    1.0
    """
    log = log or (lambda *a: None)
    image_shape = tuple(images.shape[1:])
    graph, params = _template(image_shape, cfg.seed)
    images, labels = jax.device_put(images), jax.device_put(labels)
    n, b = len(labels), min(cfg.batch_size, len(labels))
    steps_per_epoch = n // b
    tx = optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.epochs * steps_per_epoch))
    opt = tx.init(params)
    key = jax.random.key(cfg.seed)

    @xla.jit
    def step(params, opt, idx):
        def loss(p):
            _, logits = nnx.merge(graph, p)(images[idx])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean()

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, value

    log(f"training the classifier on {what} ({n} images), {cfg.epochs} epochs of {steps_per_epoch} steps")
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        losses = []
        for i in range(steps_per_epoch):
            params, opt, value = step(params, opt, perm[i * b : (i + 1) * b])
            losses.append(value)
        if not every_epoch and epoch < cfg.epochs - 1:
            continue
        clf = Classifier(graph, params, image_shape, {})
        acc = float((clf.apply(test_images, cfg.eval_batch)[1].argmax(1) == test_labels).mean())
        log(f"epoch {epoch + 1}/{cfg.epochs}: train loss {float(jnp.mean(jnp.stack(losses))):.4f}, "
            f"test accuracy {100 * acc:.2f}% ({time.perf_counter() - start:.0f}s)")
    return Classifier(graph, params, image_shape, {"test_accuracy": acc})


def load(directory: str | Path = DEFAULT_DIR) -> Classifier:
    """A trained classifier from its directory.

    Args:
      directory: where `train` (or `gan-jax classifier`) saved it.

    Returns:
      The Classifier; FileNotFoundError saying how to train one when there is none.

    >>> # clf = load("runs/mnist_classifier")
    """
    directory = Path(directory)
    meta = directory / "classifier.json"
    if not meta.is_file():
        raise FileNotFoundError(
            f"no trained classifier in {directory}; train one with: gan-jax classifier --out {directory} "
            "--set data.source=npz data.path=/path/to/mnist.npz (or any data source)"
        )
    info = json.loads(meta.read_text())
    graph, template = _template(info["image_shape"])
    ckpt = Checkpoints(directory / "checkpoint", keep=1)
    found = ckpt.restore(template)
    ckpt.close()
    if found is None:
        raise FileNotFoundError(f"the classifier checkpoint in {directory} does not load; train it again")
    return Classifier(graph, found[1], tuple(info["image_shape"]), info)


def config_from_overrides(overrides: list[str]) -> ClassifierConfig:
    """A ClassifierConfig from KEY=VALUE strings.

    Args:
      overrides: e.g. ["epochs=3", "data.source=embedded"].

    Returns:
      The config; ConfigError naming a bad key.

    >>> config_from_overrides(["epochs=1"]).epochs
    1
    """
    return config_lib.apply_overrides(ClassifierConfig(), overrides)
