"""The evaluator that ships inside the package: one frozen MNIST classifier and its reference features.

Every user's Frechet distance then comes from the same classifier (as TF-GAN shipped one frozen MNIST
classifier), and `gan-jax eval` needs no data and no training:

  assets/mnist_classifier.npz   the CNN's weights (`gan_jax.metrics.classifier.CNN`), float32 arrays named
                                by their path ("conv1/kernel/value", ...); read with allow_pickle=False
  assets/mnist_reference.npz    the classifier's 128-d features of the 10,000 MNIST test digits (the
                                reference every sample set is measured against), and the features and
                                class probabilities of 10,000 training digits (the real-data floor: the
                                first n of them stand in for n samples)
  assets/mnist_classifier.json  the card: test accuracy, how it was made, the floor at n = 10,000, and
                                the sha256 of both files, checked on every load

`export` writes them (`python -m experiments.ship_evaluator` calls it); `load` and `reference` read them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jax
import numpy as np

from gan_jax.checkpoint import flat_arrays, from_nested, nest_arrays, to_nested
from gan_jax.metrics import classifier as classifier_lib

ASSETS = Path(__file__).resolve().parent.parent / "assets"
WEIGHTS, REFERENCE, CARD = (ASSETS / n for n in ("mnist_classifier.npz", "mnist_reference.npz",
                                                 "mnist_classifier.json"))
NAME = "the shipped MNIST classifier"


class FrozenEvaluatorError(FileNotFoundError):
    """The shipped evaluator is missing or damaged (its sha256 does not match its card)."""


def sha256(path: Path) -> str:
    """The file's sha256, hex.

    Args:
      path: a file.

    Returns:
      64 hex digits.

    >>> len(sha256(Path(__file__)))
    64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def export(clf: classifier_lib.Classifier, reference: np.ndarray, floor: np.ndarray, card: dict,
           out: Path = ASSETS, reference_labels: np.ndarray | None = None, floor_labels: np.ndarray | None = None
           ) -> dict:
    """Writes the shipped evaluator from a trained classifier.

    Args:
      clf: the trained Classifier. reference: the test images in [-1, 1]. floor: training images in [-1, 1]
        (as many as the largest sample set the floor should cover). card: what to record beside the
        hashes (test accuracy, how it was made). out: the folder (default the package's assets).
      reference_labels, floor_labels: the digits' labels (what per-class metrics of conditional GANs need).

    Returns:
      The card written.

    >>> # export(classifier.load("runs/mnist_classifier"), test.images, train.images[:10000], {...})
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights, ref_path, card_path = out / WEIGHTS.name, out / REFERENCE.name, out / CARD.name
    _save_npz(weights, flat_arrays(to_nested(clf.params)))
    ref_feats, _ = clf.apply(reference)
    floor_feats, floor_probs = clf.apply(floor)
    arrays = {"reference_features": ref_feats.astype(np.float32), "floor_features": floor_feats.astype(np.float32),
              "floor_probs": floor_probs.astype(np.float32)}
    if reference_labels is not None:
        arrays.update(reference_labels=np.asarray(reference_labels, np.int32),
                      floor_labels=np.asarray(floor_labels, np.int32))
    _save_npz(ref_path, arrays)
    card = {**card, "image_shape": list(clf.image_shape), "reference_n": int(len(reference)),
            "floor_n": int(len(floor)), "weights_sha256": sha256(weights), "reference_sha256": sha256(ref_path),
            "weights_bytes": weights.stat().st_size, "reference_bytes": ref_path.stat().st_size}
    tmp = card_path.with_name(f".{card_path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, card_path)
    return card


def available() -> bool:
    """Whether the package holds the shipped evaluator.

    Returns:
      True when its three files exist.

    >>> isinstance(available(), bool)
    True
    """
    return all(p.is_file() for p in (WEIGHTS, REFERENCE, CARD))


def _checked(path: Path, card: dict, key: str) -> Path:
    if not path.is_file():
        raise FrozenEvaluatorError(f"{NAME} is missing {path.name}; reinstall gan-jax, or pass --classifier DIR "
                                   "(gan-jax classifier trains one)")
    if sha256(path) != card[key]:
        raise FrozenEvaluatorError(f"{path} does not match its recorded sha256 (damaged?); reinstall gan-jax, or "
                                   "pass --classifier DIR")
    return path


def card() -> dict:
    """The shipped evaluator's card (test accuracy, provenance, floor, hashes).

    Returns:
      A dict; FrozenEvaluatorError when it is missing.

    >>> # card()["test_accuracy"]
    """
    if not CARD.is_file():
        raise FrozenEvaluatorError(f"{NAME} is not in this installation ({CARD} missing); pass --classifier DIR "
                                   "(gan-jax classifier trains one)")
    return json.loads(CARD.read_text())


def load() -> classifier_lib.Classifier:
    """The shipped classifier, its weights checked against the card's sha256.

    Returns:
      A Classifier whose info is the card.

    >>> # feats, probs = load().apply(images)
    """
    info = card()
    with np.load(_checked(WEIGHTS, info, "weights_sha256"), allow_pickle=False) as f:
        flat = {k: f[k] for k in f.files}
    graph, template = classifier_lib._template(tuple(info["image_shape"]))
    params = from_nested(nest_arrays(flat), template)
    params = jax.tree.map(lambda x: np.asarray(x, np.float32), params)
    return classifier_lib.Classifier(graph, params, tuple(info["image_shape"]), {**info, "shipped": True})


def reference() -> dict[str, np.ndarray]:
    """The shipped reference: test-digit features and the real floor's features and probabilities.

    Returns:
      {"reference_features": 10000 x 128, "floor_features": N x 128, "floor_probs": N x 10,
      "reference_labels": 10000, "floor_labels": N}.

    >>> # ref = reference(); ref["reference_features"].shape
    """
    info = card()
    with np.load(_checked(REFERENCE, info, "reference_sha256"), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
