"""Whether a digit translator keeps the digit: accuracy of classifiers on translated test digits, and the
Frechet distance of translated images to real ones, each beside its baseline and floor.

For a translator between MNIST (domain A) and another digit domain B (MNIST-M, UCI digits, edges):

- **b2a**: translate B's test digits to A; the shipped MNIST classifier's accuracy on them. Baseline: the
  same classifier on the untranslated B digits (made grey).
- **a2b**: translate A's test digits to B; accuracy of a classifier trained on B's training digits (its
  `ceiling` is its accuracy on real B test digits). Baseline: that classifier on untranslated A digits (in
  B's channels). FD of the translated digits to B's real test digits on that classifier's features,
  beside the floor (B's real training digits vs its test digits, as many) and the baseline (untranslated A).

A paired translator (pix2pix, edges -> digits) is scored a2b by the shipped classifier, and its FD is
measured on the shipped classifier's features against the real test digits.
"""

from __future__ import annotations

import numpy as np

from gan_jax import translation
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import evaluate

JUDGE_STEPS = 1_500  # at least this many batches of 128 train the classifier of domain B


def _channels(x: np.ndarray, c: int) -> np.ndarray:
    return np.asarray(translation.as_channels(x, c))


def _accuracy(clf, images, labels) -> float:
    return float(np.mean(clf.apply(images)[1].argmax(1) == labels))


def _fd(clf, x, reference_feats) -> float:
    f = clf.apply(x)[0]
    return evaluate.frechet_distance(*evaluate.gaussian(f), *evaluate.gaussian(reference_feats))


def report(game, state, test, train, mnist_classifier, seed: int = 0, log=None) -> dict:
    """The translation metrics of the module docstring.

    Args:
      game, state: a translator and its state. test, train: `gan_jax.domains.Domains` (labels: the digits).
      mnist_classifier: the shipped MNIST classifier (`gan_jax.metrics.frozen.load()`). seed: the B
      classifier's. log: a print function for its training (None: silent).

    Returns:
      {"b2a": {...}, "a2b": {...}} with accuracy, baseline, ceiling, fd, fd_floor, fd_baseline, n.

    >>> from gan_jax import domains
    >>> from gan_jax.config import DataConfig
    >>> from gan_jax.metrics import frozen
    >>> pairs = domains.load_domains(DataConfig(source="embedded", pair="edges", split="test", limit=20))
    >>> game = translation.pix2pix((28, 28, 1), (28, 28, 1), width=2, depth=2, adversarial=False)
    >>> sorted(report(game, game.init(0), pairs, pairs, frozen.load())["a2b"])
    ['accuracy', 'ceiling', 'fd', 'fd_floor', 'n']
    """
    out = {}
    a, b = test.a, test.b
    cb = b.images.shape[-1]
    if test.paired:  # pix2pix on digits: B is the digits
        y = translation.translate_all(game, state, "a2b", a.images)
        ref = mnist_classifier.apply(b.images)[0]
        floor = mnist_classifier.apply(train.b.images[:len(b.images)])[0]
        out["a2b"] = {"accuracy": _accuracy(mnist_classifier, y, b.labels),
                      "ceiling": _accuracy(mnist_classifier, b.images, b.labels),
                      "fd": _fd(mnist_classifier, y, ref),
                      "fd_floor": evaluate.frechet_distance(*evaluate.gaussian(floor), *evaluate.gaussian(ref)),
                      "n": len(y)}
        return out
    if "b2a" in game.transforms:
        y = translation.translate_all(game, state, "b2a", b.images)
        out["b2a"] = {"accuracy": _accuracy(mnist_classifier, _channels(y, 1), b.labels),
                      "baseline": _accuracy(mnist_classifier, _channels(b.images, 1), b.labels), "n": len(y)}
    n = len(train.b.images)
    epochs = min(50, max(4, -(-JUDGE_STEPS // (n // min(128, n)))))  # a small domain: more epochs, up to 50
    judge = classifier_lib.fit(train.b.images, train.b.labels, b.images, b.labels,
                               classifier_lib.ClassifierConfig(epochs=epochs, seed=seed), log, "domain B",
                               every_epoch=False)
    y = translation.translate_all(game, state, "a2b", a.images)
    ref = judge.apply(b.images)[0]
    floor = judge.apply(train.b.images[:len(b.images)])[0]
    out["a2b"] = {"accuracy": _accuracy(judge, y, a.labels), "ceiling": judge.info["test_accuracy"],
                  "baseline": _accuracy(judge, _channels(a.images, cb), a.labels),
                  "fd": _fd(judge, y, ref),
                  "fd_floor": evaluate.frechet_distance(*evaluate.gaussian(floor), *evaluate.gaussian(ref)),
                  "fd_baseline": _fd(judge, _channels(a.images, cb), ref), "n": len(y)}
    return out


def lines(result: dict) -> list[str]:
    """The report as lines to print.

    Args:
      result: what `report` returns.

    Returns:
      One line per direction.

    >>> lines({"b2a": {"accuracy": 0.9, "baseline": 0.3, "n": 10}})
    ['b2a: digits kept 90.0% (untranslated 30.0%), n=10']
    """
    out = []
    for way, r in result.items():
        text = f"{way}: digits kept {100 * r['accuracy']:.1f}%"
        if "baseline" in r:
            text += f" (untranslated {100 * r['baseline']:.1f}%)"
        if "ceiling" in r:
            text += f", real-target ceiling {100 * r['ceiling']:.1f}%"
        if "fd" in r:
            text += f"; FD {r['fd']:.2f} (floor {r['fd_floor']:.2f}"
            text += f", untranslated {r['fd_baseline']:.2f})" if "fd_baseline" in r else ")"
        out.append(text + f", n={r['n']}")
    return out
