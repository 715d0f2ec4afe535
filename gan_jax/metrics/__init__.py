"""Evaluation: a frozen MNIST classifier (`classifier`) and the metrics on its features (`evaluate`).

The functions here work on images directly (N x 28 x 28 x 1, N x 28 x 28 or N x 784, in [-1, 1], [0, 1]
or [0, 255]); `classifier` is a `classifier.Classifier`, a directory holding one, or None for the default
(the frozen classifier shipped in the package, `gan_jax.metrics.frozen`):

    >>> # gj.metrics.fd(samples, test_images)                       # Frechet distance on its features
    >>> # gj.metrics.precision_recall(samples, test_images, k=5)    # and density / coverage
    >>> # gj.metrics.score(samples)                                 # classifier score, max 10
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import evaluate, frozen

classifier = classifier_lib  # the module, under its short name


@functools.lru_cache(maxsize=4)
def _load(directory: str) -> classifier_lib.Classifier:
    return classifier_lib.load(directory)


@functools.lru_cache(maxsize=1)
def _shipped() -> classifier_lib.Classifier:
    return frozen.load()


def _classifier(clf) -> classifier_lib.Classifier:
    if isinstance(clf, classifier_lib.Classifier):
        return clf
    return _shipped() if clf is None else _load(str(Path(clf).absolute()))


def features(images, classifier=None) -> tuple[np.ndarray, np.ndarray]:
    """(features N x 128, class probabilities N x 10) of images under the frozen classifier.

    Args:
      images: any accepted layout and range (see the module docstring).
      classifier: a Classifier, a directory, or None for the default.

    Returns:
      Two numpy arrays.

    >>> # feats, probs = gj.metrics.features(samples)
    """
    clf = _classifier(classifier)
    return clf.apply(evaluate.as_images(images, clf.image_shape))


def fd(images_a, images_b, classifier=None) -> float:
    """The Frechet distance between two sets of images on the classifier's 128-d features.

    Args:
      images_a, images_b: two sets of images (any accepted layout and range).
      classifier: a Classifier, a directory, or None for the default.

    Returns:
      |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), a float.

    >>> # gj.metrics.fd(samples, gj.data.images("embedded", split="test"))
    """
    fa, _ = features(images_a, classifier)
    fb, _ = features(images_b, classifier)
    return evaluate.frechet_distance(*evaluate.gaussian(fa), *evaluate.gaussian(fb))


def precision_recall(images, reference, k: int = 5, classifier=None) -> dict:
    """k-NN precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al. 2020).

    Args:
      images: the samples. reference: real images. k: neighbours. classifier: as for `fd`.

    Returns:
      {"precision", "recall", "density", "coverage"}.

    >>> # gj.metrics.precision_recall(samples, test_images, k=5)["recall"]
    """
    fake, _ = features(images, classifier)
    real, _ = features(reference, classifier)
    return evaluate.precision_recall_density_coverage(real, fake, k)


def score(images, classifier=None) -> float:
    """The classifier score (Inception-score style): exp E_x KL(p(y|x) || p(y)), at most 10 for MNIST.

    Args:
      images: the samples. classifier: as for `fd`.

    Returns:
      A float.

    >>> # gj.metrics.score(samples)
    """
    return evaluate.classifier_score(features(images, classifier)[1])


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

    >>> # gj.metrics.classifier_scores(sgan, state, test.images, test.labels)["test_accuracy"]
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
        (`gan_jax.models.conditional.SemiSupervisedDiscriminator`), or `Seeds` of one.
      state: its state (stacked for Seeds). images: N images as D takes them. labels: N ints.
      batch: images per compiled call. weights: "auto" (D's moving average when the state keeps one,
        gan.d_ema_decay > 0, else the trained weights), "live" (the trained weights) or "ema".

    Returns:
      The share classified correctly; a list, one per seed, for Seeds.

    >>> # acc = gj.metrics.classifier_accuracy(sgan, state, test.images, test.labels)
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


__all__ = ["classifier", "evaluate", "frozen", "features", "fd", "precision_recall", "score", "has_classifier",
           "classifier_accuracy"]
