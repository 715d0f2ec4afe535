"""Writes the evaluator that ships in the package (gan_jax/assets/) from a trained MNIST classifier.

    gan-jax classifier --out runs/mnist_classifier --set data.source=npz data.path=/path/to/mnist.npz
    python -m experiments.ship_evaluator --classifier runs/mnist_classifier --set data.source=npz data.path=/path/to/mnist.npz

It stores the classifier's weights, its features of the 10,000 test digits (the reference) and of the first
10,000 training digits (the real floor, in the order `gan-jax eval` has always used: data.seed 0), both sets'
labels (for the per-class metrics of conditional GANs), and a card
with the test accuracy, the floor's metrics at n = 10,000, and the sha256 of each file.
"""

import argparse
import dataclasses

import jax

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax.config import DataConfig
from gan_jax.metrics import classifier, evaluate, frozen

FLOOR_N = 10_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier", required=True, help="a classifier made by gan-jax classifier")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                   help="the full MNIST data, e.g. data.source=npz data.path=/path/to/mnist.npz")
    p.add_argument("--out", default=str(frozen.ASSETS))
    a = p.parse_args()
    clf = classifier.load(a.classifier)
    data_cfg = config_lib.apply_overrides(config_lib.Config(data=DataConfig()), a.overrides).data
    test = data_lib.load(dataclasses.replace(data_cfg, split="test", limit=0))
    floor = data_lib.load(dataclasses.replace(data_cfg, split="train", limit=FLOOR_N))
    if len(test.images) != 10_000 or len(floor.images) != FLOOR_N:
        raise SystemExit(f"needs full MNIST (10,000 test digits, {FLOOR_N} training digits); got {test.source}")
    ref_feats, _ = clf.apply(test.images)
    floor_metrics = evaluate.compare(*clf.apply(floor.images), ref_feats, None, 5)
    trained = {k: v for k, v in clf.info["config"].items() if k != "data"}
    card = {"test_accuracy": clf.info["test_accuracy"], "reference": "the 10,000 MNIST test digits",
            "floor": f"the first {FLOOR_N} MNIST training digits (shuffled with data.seed 0)",
            "trained_on": "the 60,000 MNIST training digits", "training": trained,
            "made_by": ["gan-jax classifier --set data.source=npz data.path=mnist.npz",
                        "python -m experiments.ship_evaluator --classifier DIR --set data.source=npz data.path=mnist.npz"],
            "jax": jax.__version__, "floor_10000_k5": floor_metrics}
    card = frozen.export(clf, test.images, floor.images, card, a.out, test.labels, floor.labels)
    print(f"wrote {a.out}: test accuracy {100 * card['test_accuracy']:.2f}%, weights {card['weights_bytes']} bytes, "
          f"reference {card['reference_bytes']} bytes; floor FD {floor_metrics['fd']:.3f}")


if __name__ == "__main__":
    main()
