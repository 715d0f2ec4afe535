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


__all__ = ["classifier", "evaluate", "frozen", "features", "fd", "precision_recall", "score"]
