"""The semi-supervised GAN (book chapter 7; Salimans et al. 2016), a preset of `gan_jax.GAN`: its D is a
K-class classifier whose real/fake logit is the logsumexp of its class logits, its loss reads a labelled
batch beside the unlabelled one, its data is every image unlabelled beside a small labelled subset, and
its result is D's test accuracy, scored during a run (`ClassifierPreview`) and after it
(`classifier_report`).

    D = functools.partial(SemiSupervisedDiscriminator, base_d, 10)
    sgan = gj.GAN(G, D, g_tx, d_tx, loss=SemiSupervisedLoss())
    data = SemiSupervised(gj.data.load(cfg), per_class=10, seeds=0)     # 100 labels
    gj.fit(sgan, data, run_dir="runs/sgan", steps=20_000, preview=ClassifierPreview(sgan, x_test, y_test))

Nothing else in the library names it: a config asks for a labelled subset (`data.labels_per_class`),
and `gan_jax.build` brings this module in for a D that classifies.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gan_jax import data as data_lib
from gan_jax import viz
from gan_jax.config import Config
from gan_jax.data import Dataset, labelled_subset
from gan_jax.losses import Loss, class_cross_entropy, loss_name, non_saturating
from gan_jax.previews import ScoredPreview, SAMPLE_SEED
from gan_jax.seeds import count


class SemiSupervisedDiscriminator(nnx.Module):
    """D as a `classes`-way classifier whose real/fake logit is logsumexp of its class logits (Salimans et al.
    2016: D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp l_k(x), so the logit of D(x) is log Z(x)).

    Called on a fake batch x it returns (logsumexp l(x), phi(x)); on a real batch of a semi-supervised
    dataset, `(x, (x_l, y_l))` (an unlabelled and a labelled batch, `gan_jax.sampling.Parts`), it returns
    (logsumexp l(x), l(x_l), y_l, phi(x)): the features phi serve feature matching. Both batches go through
    the base in one pass. `classify(x)` gives the class logits (the classifier a semi-supervised GAN trains).

    Args:
      base: factory of an unconditional D with `features`, `feature_dim`. classes: how many classes.
      head: factory `(feature_dim, classes, rngs=) -> module` called as `head(features, train)` for the class
        logits (Salimans et al.'s has noise and weight norm); default a plain `nnx.Linear`.

    >>> import functools
    >>> from gan_jax.models import mlp
    >>> d = SemiSupervisedDiscriminator(functools.partial(mlp.Discriminator, (4,), 8, 1, 0.2), 3, rngs=nnx.Rngs(0))
    >>> logit, feats = d(jnp.zeros((2, 4)))
    >>> logit.shape, feats.shape, d.classify(jnp.zeros((2, 4))).shape
    ((2,), (2, 8), (2, 3))
    """

    def __init__(self, base, classes: int, head=None, *, rngs: nnx.Rngs):
        if classes < 2:
            raise ValueError(f"classes: a semi-supervised D needs at least 2, got {classes}")
        self.base = base(rngs=rngs)
        self.classes = classes
        self.own_head = head is not None
        self.to_classes = (head or nnx.Linear)(self.base.feature_dim, classes, rngs=rngs)

    def _logits(self, h: jax.Array, train: bool) -> jax.Array:
        return self.to_classes(h, train) if self.own_head else self.to_classes(h)

    def classify(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits of a batch of images.

        Args:
          x: B images. train: the base's train flag.

        Returns:
          B x classes logits.

        >>> # logits = d.classify(test_images)
        """
        return self._logits(self.base.features(x, train), train)

    def __call__(self, sample, train: bool = False):
        if not isinstance(sample, tuple):
            h = self.base.features(sample, train)
            return jax.nn.logsumexp(self._logits(h, train), axis=-1), h
        x, (x_l, y_l) = sample
        h = self.base.features(jnp.concatenate([x, x_l.astype(x.dtype)]), train)
        logits = self._logits(h, train)
        b = x.shape[0]
        return jax.nn.logsumexp(logits[:b], axis=-1), logits[b:], y_l, h[:b]


@dataclasses.dataclass(frozen=True)
class SemiSupervisedLoss:
    """The semi-supervised GAN's loss (book chapter 7; Salimans et al. 2016) on
    `SemiSupervisedDiscriminator`'s outputs: D's loss is the cross-entropy of its class
    logits on the labelled batch plus `unsupervised` times the adversarial loss on its logsumexp logits
    (an unlabelled real batch and a fake one); G's is the adversarial G loss, or with `feature_matching`
    |mean phi(real) - mean phi(fake)|^2 over D's features (Salimans et al.'s choice for classification).

    Args:
      adversarial: the game's loss on the logsumexp logits (default the book's non-saturating one).
      feature_matching: G matches D's mean features instead of fooling its logit.
      unsupervised: the adversarial term's weight in D's loss; 0 trains D's classifier on the labels alone
        (the supervised-only baseline with the same network).

    >>> loss = SemiSupervisedLoss()
    >>> real = (jnp.zeros(2), jnp.zeros((2, 3)), jnp.array([0, 2]), jnp.zeros((2, 4)))
    >>> d, g = loss(real, (jnp.zeros(2), jnp.ones((2, 4))))
    >>> round(float(d), 4), round(float(g), 4)   # log 3 + 2 log 2, log 2
    (2.4849, 0.6931)
    """

    adversarial: Loss = non_saturating
    feature_matching: bool = False
    unsupervised: float = 1.0

    @property
    def name(self) -> str:
        parts = [loss_name(self.adversarial)] + (["feature matching"] if self.feature_matching else [])
        if self.unsupervised != 1.0:
            parts.append(f"unsupervised={self.unsupervised:g}")
        return f"semi_supervised({', '.join(parts)})"

    def __call__(self, real, fake) -> tuple[jax.Array, jax.Array]:
        if len(real) != 4 or len(fake) != 2:
            raise ValueError("SemiSupervisedLoss reads a SemiSupervisedDiscriminator's outputs: (logit, labelled "
                             "logits, labels, features) on the real batch and (logit, features) on the fake one; "
                             "train it on sampling.Parts(images, (labelled_images, labels))")
        (l_real, c_lab, y_lab, h_real), (l_fake, h_fake) = real, fake
        d_adv, g_adv = self.adversarial(l_real, l_fake)
        if self.feature_matching:
            g_adv = jnp.sum(jnp.square(jnp.mean(h_real, axis=0) - jnp.mean(h_fake, axis=0)))
        return class_cross_entropy(c_lab, y_lab) + self.unsupervised * d_adv, g_adv


@dataclasses.dataclass(frozen=True)
class SemiSupervised:
    """A Dataset as the data of a semi-supervised GAN: `images` is `sampling.Parts(images, (labelled images,
    their labels))`, every image unlabelled beside a stratified labelled subset (`labelled_subset`). Only
    the subset's labels reach the engine. With several seeds, one subset per seed, stacked along a leading
    axis (train it with `Seeds(gan, n, data_axes=Parts(None, 0))`).

    Args:
      dataset: the training Dataset. per_class: labels kept per class.
      seeds: the subsets' seeds: an int for one subset, a sequence for one per seed.

    >>> # gj.fit(sgan, SemiSupervised(gj.data.load(cfg.data), 10, 0), run_dir=..., steps=...)
    """

    dataset: "Dataset"
    per_class: int = 10
    seeds: "int | tuple[int, ...]" = 0

    @functools.cached_property
    def indices(self) -> np.ndarray:
        """The labelled subsets' indices, K*per_class (or seeds x K*per_class) int64 into the dataset; chosen
        once, then shared by `images` and `describe`.

        >>> # SemiSupervised(ds, 10, 0).indices.shape  -> (100,)
        """
        if isinstance(self.seeds, int):
            return labelled_subset(self.dataset.labels, self.per_class, self.seeds)
        return np.stack([labelled_subset(self.dataset.labels, self.per_class, s) for s in self.seeds])

    @property
    def images(self):
        from gan_jax.sampling import Parts

        idx = self.indices
        return Parts(self.dataset.images, (self.dataset.images[idx], self.dataset.labels[idx].astype(np.int32)))

    def describe(self) -> dict:
        """data.json's content: the dataset's, with the labelled subset.

        Args:
          none.

        Returns:
          {"source", "n", "image_shape", "labels_per_class", "labelled_indices"}.

        >>> # SemiSupervised(ds).describe()["labels_per_class"]  -> 10
        """
        return {**self.dataset.describe(), "labels_per_class": self.per_class,
                "labelled_indices": self.indices.tolist()}


def has_classifier(engine) -> bool:
    """Whether a GAN's discriminator is also a classifier of images (has a method `classify(x, train)`, as a
    semi-supervised GAN's D).

    Args:
      engine: a GAN, or `Seeds` of one.

    Returns:
      True when `classifier_accuracy` applies.

    >>> import gan_jax as gj
    >>> has_classifier(gj.build.engine(gj.config.Config(), (28, 28, 1)))
    False
    """
    import inspect

    d = getattr(getattr(engine, "engine", engine), "d", None)  # a method, not a layer named classify (ACGAN's)
    return d is not None and inspect.ismethod(getattr(d.template, "classify", None))


def classifier_scores(engine, state, images, labels) -> dict:
    """`classifier_accuracy` with the weights a run is scored with: D's moving average when the state
    keeps one (the trained weights' beside it, prefixed "live_"), else the trained weights.

    Args:
      engine, state, images, labels: as `classifier_accuracy`'s.

    Returns:
      {"weights": "ema" or "live", "test_accuracy", "test_accuracy_se" (0 for one GAN), and for `Seeds`
      "test_accuracy_per_seed"; the same three with "live_" when weights is "ema"}.

    >>> # gj.semi_supervised.classifier_scores(sgan, state, test.images, test.labels)["test_accuracy"]
    """
    from gan_jax.seeds import mean_se

    out: dict = {"weights": "live" if state.d_ema is None else "ema"}
    for prefix, weights in [("", "auto")] + ([("live_", "live")] if state.d_ema is not None else []):
        acc = classifier_accuracy(engine, state, images, labels, weights=weights)
        per_seed = acc if isinstance(acc, list) else [acc]
        out[f"{prefix}test_accuracy"], out[f"{prefix}test_accuracy_se"] = mean_se(per_seed)
        if isinstance(acc, list):
            out[f"{prefix}test_accuracy_per_seed"] = acc
    return out


def classifier_accuracy(engine, state, images, labels, batch: int = 1000, weights: str = "auto",
                        ) -> float | list[float]:
    """The test accuracy of a GAN's discriminator as a classifier: argmax of `D.classify(x)` against labels.

    Args:
      engine: a GAN whose D has `classify(x, train=False)` -> B x K logits
        (`SemiSupervisedDiscriminator`), or `Seeds` of one.
      state: its state (stacked for Seeds). images: N images as D takes them. labels: N ints.
      batch: images per compiled call. weights: "auto" (D's moving average when the state keeps one,
        gan.d_ema_decay > 0, else the trained weights), "live" (the trained weights) or "ema".

    Returns:
      The share classified correctly; a list, one per seed, for Seeds.

    >>> # acc = gj.semi_supervised.classifier_accuracy(sgan, state, test.images, test.labels)
    """
    import jax

    if not has_classifier(engine):
        raise ValueError("classifier_accuracy needs a GAN whose discriminator has classify(x) (a "
                         "SemiSupervisedDiscriminator)")
    labels = np.asarray(labels)
    if len(images) != len(labels) or not len(labels):
        raise ValueError(f"classifier_accuracy: {len(images)} images but {len(labels)} labels")
    if weights not in ("auto", "live", "ema"):
        raise ValueError(f"classifier_accuracy: weights must be auto, live or ema, got {weights!r}")
    if weights == "ema" and state.d_ema is None:
        raise ValueError("classifier_accuracy: weights='ema' but this state keeps no moving average of D "
                         "(gan.d_ema_decay = 0)")
    if hasattr(engine, "member"):  # Seeds: each seed's D in turn
        return [classifier_accuracy(engine.engine, engine.member(state, i), images, labels, batch, weights)
                for i in range(engine.n)]
    d_params = state.d_params if weights == "live" or state.d_ema is None else state.d_ema
    gan = engine
    predict = jax.jit(lambda p, r, x: gan.d.merge(p, r, gan.settings.precision).classify(x, train=False).argmax(-1))
    hits = 0
    for i in range(0, len(labels), batch):
        x = np.asarray(images[i:i + batch])
        short = batch - len(x) if len(labels) > batch else 0
        if short:  # one compiled shape
            x = np.concatenate([x, np.zeros((short, *x.shape[1:]), x.dtype)])
        pred = np.asarray(predict(d_params, state.d_rest, x))[:len(x) - short]
        hits += int(np.sum(pred == labels[i:i + batch]))
    return hits / len(labels)


class ClassifierPreview(ScoredPreview):
    """For a GAN whose D is a classifier (a semi-supervised GAN): the grid, and D's accuracy on labelled
    held-out images at every preview step, appended to scores.jsonl and drawn in accuracy.png (with D's
    moving average when the run keeps one, the trained weights' beside it; for `Seeds` the mean, its
    standard error and every seed's). The images are only scored, never trained on.

    Args:
      engine: a GAN with `classify` (`has_classifier`), or `Seeds` of one.
      images, labels: the held-out set (e.g. the test split). seed, caption: as GridPreview's.

    >>> # fit(sgan, data, run_dir="runs/sgan", steps=20_000, preview=ClassifierPreview(sgan, x_test, y_test))
    """

    def __init__(self, engine, images, labels, seed: int = SAMPLE_SEED, caption: str = ""):
        super().__init__(engine, seed=seed, caption=caption)
        self.images, self.labels = images, np.asarray(labels)

    def __call__(self, state, step: int) -> tuple[Path, str]:
        path, _ = super().__call__(state, step)
        row: dict = {"step": step}
        for name, value in classifier_scores(self.engine, state, self.images, self.labels).items():
            if name.endswith("_per_seed"):  # as metrics.jsonl's seed columns, which save_curves draws thin
                row.update({f"{name.removesuffix('_per_seed')}/seed{i}": a for i, a in enumerate(value)})
            elif name != "weights" and (name.endswith("accuracy") or bool(count(self.engine))):  # no s.e. of one
                row[name] = value
        self.write(row)
        rows = [{k: v for k, v in r.items() if not k.endswith("_se")} for r in viz.read_metrics(self.run_dir / "scores.jsonl")]
        viz.save_curves(rows, self.run_dir / "accuracy.png", f"{self.run_dir.name}: D's accuracy on "
                        f"{len(self.labels)} held-out images", (("test_accuracy", "live_test_accuracy"),))
        spread = f" ± {100 * row['test_accuracy_se']:.2f}" if "test_accuracy_se" in row else ""
        averaged = " (D's moving average)" if state.d_ema is not None else ""
        return path, f"D's test accuracy {100 * row['test_accuracy']:.2f}%{spread}{averaged}"


def classifier_report(cfg: Config, eng, state, test: data_lib.Dataset | None = None) -> dict | None:
    """The test accuracy of a run's D as a classifier (a semi-supervised GAN's result), on the test split
    of the run's data; None when its D has no `classify` (`has_classifier`).

    Args:
      cfg: the run's Config (its data section names the test data). eng: its engine. state: its state.
      test: the test split if already loaded (else loaded from cfg.data).

    Returns:
      {"test_accuracy", "test_accuracy_se" (0 for one seed), "test_accuracy_per_seed" (a run of seeds),
      "test_images", "test_source", "labels" (labelled training images per seed, 0 = all), "weights"
      ("ema" when the run keeps a moving average of D, gan.d_ema_decay > 0, and the accuracy is its;
      the trained weights' then beside it as "live_test_accuracy", "live_test_accuracy_se" and
      "live_test_accuracy_per_seed"; else "live")}, or None.

    >>> # classifier_report(cfg, eng, state)["test_accuracy"]
    """
    if not has_classifier(eng):
        return None
    if test is None:
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))
    k = len(np.unique(test.labels))
    return {"test_images": len(test.labels), "test_source": test.source, "labels": cfg.data.labels_per_class * k,
            **classifier_scores(eng, state, test.images, test.labels)}


def classifier_line(report: dict) -> str:
    """One printed line for `classifier_report`'s result.

    Args:
      report: its dict.

    Returns:
      "D's classifier: test accuracy 98.50% +- 0.10 over 5 label subsets (100 labels) on 10000 images of ...".

    >>> classifier_line({"test_accuracy": 0.985, "test_accuracy_se": 0.0, "test_images": 10, "test_source": "x",
    ...                  "labels": 100})
    "D's classifier: test accuracy 98.50% (100 labels) on 10 test images of x"
    """
    seeds = report.get("test_accuracy_per_seed")

    def acc(prefix: str) -> str:
        spread = f" +- {100 * report[prefix + 'test_accuracy_se']:.2f}" if seeds else ""
        return f"{100 * report[prefix + 'test_accuracy']:.2f}%{spread}"

    over = f" over {len(seeds)} label subsets" if seeds else ""
    labels = f"{report['labels']} labels" if report["labels"] else "all labels"
    averaged = (f" with D's moving average (the trained weights: {acc('live_')})"
                if report.get("weights") == "ema" else "")
    return (f"D's classifier: test accuracy {acc('')}{over}{averaged} ({labels}) on "
            f"{report['test_images']} test images of {report['test_source']}")


__all__ = ["SemiSupervisedDiscriminator", "SemiSupervisedLoss", "SemiSupervised", "ClassifierPreview", "has_classifier",
           "classifier_scores", "classifier_accuracy", "classifier_report", "classifier_line"]
