"""The evaluator on cases with known answers, and the classifier it stands on."""

import json

import numpy as np
import pytest

from gan_jax.cli import main
from gan_jax.metrics import classifier, evaluate
from gan_jax.metrics.evaluate import InputError


def test_frechet_distance_closed_form_for_two_gaussians():
    # diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2 = 5 + 1 + 1
    fd = evaluate.frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([4.0, 9.0]))
    assert fd == pytest.approx(7.0, abs=1e-9)
    # a rotated (non-diagonal) pair: FD is invariant under the same rotation of both
    r = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    fd_rot = evaluate.frechet_distance(np.zeros(2), r @ np.diag([1.0, 4.0]) @ r.T, r @ np.array([1.0, 2.0]),
                                       r @ np.diag([4.0, 9.0]) @ r.T)
    assert fd_rot == pytest.approx(7.0, abs=1e-9)


def test_identical_sets_have_zero_fd_and_full_precision_recall():
    feats = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    mu, s = evaluate.gaussian(feats)
    assert abs(evaluate.frechet_distance(mu, s, mu, s)) < 1e-8
    prdc = evaluate.precision_recall_density_coverage(feats, feats, k=5)
    assert prdc["precision"] == 1.0 and prdc["recall"] == 1.0 and prdc["coverage"] == 1.0
    assert prdc["density"] >= 1.0  # each point sits in its own ball and in its neighbours'


def test_far_apart_sets_have_no_precision_or_recall():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 100
    prdc = evaluate.precision_recall_density_coverage(real, fake, k=3)
    assert prdc == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # half the fakes on the real manifold: precision ~1/2, recall high
    mixed = np.concatenate([real[:150] + 1e-3, fake[:150]])
    prdc = evaluate.precision_recall_density_coverage(real, mixed, k=3)
    assert prdc["precision"] == pytest.approx(0.5, abs=0.02)


def test_knn_radii_by_hand():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(evaluate.knn_radii(points, 1), [1.0, 1.0, 2.0, 4.0], atol=1e-3)
    np.testing.assert_allclose(evaluate.knn_radii(points, 2), [3.0, 2.0, 3.0, 6.0], atol=1e-3)
    # repeated points: each copy is a neighbour at distance 0, counted once per copy
    dup = np.array([[0.0], [0.0], [0.0], [2.0], [5.0]])
    np.testing.assert_allclose(evaluate.knn_radii(dup, 1), [0.0, 0.0, 0.0, 2.0, 3.0], atol=1e-3)
    np.testing.assert_allclose(evaluate.knn_radii(dup, 2), [0.0, 0.0, 0.0, 2.0, 5.0], atol=1e-3)
    np.testing.assert_allclose(evaluate.knn_radii(dup, 3), [2.0, 2.0, 2.0, 2.0, 5.0], atol=1e-3)
    with pytest.raises(InputError, match="k=5 needs more than 5 points, got 5"):
        evaluate.knn_radii(dup, 5)  # each point's 5th neighbour among 4 others does not exist


def test_knn_radii_are_the_sorted_distances_kth_entry_across_blocks_and_ties():
    # more points than one block (evaluate.BLOCK), integer grid points so that many distances tie
    rng = np.random.default_rng(3)
    points = rng.integers(0, 4, size=(evaluate.BLOCK + 300, 3)).astype(np.float32)
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    for k in (1, 5, 40):
        np.testing.assert_allclose(evaluate.knn_radii(points, k), np.sort(d, axis=1)[:, k], atol=1e-3)


def test_the_evaluator_asks_for_full_float32_distances_whatever_the_default_precision():
    """On TF32 GPUs and TPUs a matmul at default precision rounds its inputs; the k-NN distances ask for
    HIGHEST themselves (the suite's own default, set in conftest, would hide a missing one on such a
    device), and agree with float64 by hand."""
    import jax

    a, b = np.array([[0.0, 1.0], [3.0, 4.0]], np.float32), np.array([[1.0, 1.0]], np.float32)
    assert "HIGHEST" in str(jax.make_jaxpr(evaluate._sq_dists)(a, b))
    np.testing.assert_allclose(np.asarray(evaluate._sq_dists(a, b)), [[1.0], [13.0]])


def test_classifier_score_and_histogram_on_known_sets():
    one_hot_all = np.eye(10)[np.arange(1000) % 10]
    assert evaluate.classifier_score(one_hot_all) == pytest.approx(10.0, rel=1e-6)
    one_class = np.eye(10)[np.zeros(500, int)]
    assert evaluate.classifier_score(one_class) == pytest.approx(1.0, rel=1e-6)
    hist = evaluate.class_histogram(one_class)
    assert hist["modes"] == 1 and hist["kl_uniform"] == pytest.approx(np.log(10)) and hist["counts"][0] == 500
    rare = np.eye(10)[np.r_[np.zeros(990, int), np.ones(10, int)]]  # class 1 holds 1% < 2%
    assert evaluate.class_histogram(rare)["modes"] == 1


@pytest.mark.parametrize("array", [
    np.full((3, 28, 28), 0.5) * np.linspace(-1, 1, 784).reshape(28, 28),  # [-1, 1], N x 28 x 28
    np.linspace(0, 1, 3 * 784).reshape(3, 28, 28, 1),  # [0, 1]
    np.linspace(0, 255, 3 * 784).reshape(3, 784),  # [0, 255], N x 784
    np.linspace(0, 255, 3 * 784).reshape(3, 28, 28).astype(np.uint8),
])
def test_as_images_accepts_the_documented_layouts(array):
    x = evaluate.as_images(array)
    assert x.shape == (3, 28, 28, 1) and x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1


def test_as_images_scales_each_range_to_the_same_images():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 28, 28)).astype(np.float64)
    a = evaluate.as_images(pixels)
    np.testing.assert_allclose(evaluate.as_images(pixels / 255.0), a, atol=1e-5)
    np.testing.assert_allclose(evaluate.as_images(pixels / 127.5 - 1), a, atol=1e-5)


@pytest.mark.parametrize("array, fragment", [
    (np.zeros((3, 32, 32)), "got shape (3, 32, 32)"),
    (np.zeros((3, 28, 28, 3)), "got shape (3, 28, 28, 3)"),
    (np.zeros((0, 784)), "got shape (0, 784)"),
    (np.full((2, 784), 300.0), "values span [300, 300]"),
    (np.full((2, 784), -2.0), "values span [-2, -2]"),
    (np.full((2, 784), np.nan), "NaN"),
    (np.array([["a"] * 784]), "numeric array"),
])
def test_as_images_rejects_anything_else(array, fragment):
    with pytest.raises(InputError) as e:
        evaluate.as_images(array)
    assert fragment in str(e.value)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "c"
    cfg = classifier.config_from_overrides(["data.source=embedded", "data.limit=512", "epochs=1", "batch_size=64"])
    trained = classifier.train(cfg, out, log=lambda *_: None)
    return out, trained


def test_classifier_is_deterministic_and_round_trips(tiny_classifier, tmp_path):
    out, trained = tiny_classifier
    cfg = classifier.config_from_overrides(["data.source=embedded", "data.limit=512", "epochs=1", "batch_size=64"])
    again = classifier.train(cfg, tmp_path / "again", log=lambda *_: None)
    import jax

    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(trained.params), jax.tree.leaves(again.params)))
    loaded = classifier.load(out)
    x = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded.apply(x)[1], trained.apply(x)[1])
    assert loaded.apply(x)[0].shape == (5, 128)
    with pytest.raises(FileNotFoundError, match="gan-jax classifier --out"):
        classifier.load(tmp_path / "none")


def test_eval_command_on_real_digits_and_bad_input(tiny_classifier, tmp_path, capsys):
    out, _ = tiny_classifier
    from gan_jax import data
    from gan_jax.config import DataConfig

    real = data.load(DataConfig(source="embedded", split="train", limit=300, seed=5)).images
    np.save(tmp_path / "real.npy", (real[..., 0] + 1) * 127.5)  # N x 28 x 28 in [0, 255]
    assert main(["eval", str(tmp_path / "real.npy"), "--classifier", str(out), "--k", "3"]) == 0
    printed = capsys.readouterr().out
    assert "real floor" in printed and "Frechet distance" in printed
    results = json.loads((tmp_path / "real.eval.json").read_text())
    assert results["samples"]["n"] == 300 and results["real_floor"]["n"] == 300
    assert results["samples"]["fd"] < 5 * results["real_floor"]["fd"] + 1.0  # real digits score like the floor
    np.save(tmp_path / "bad.npy", np.zeros((4, 32, 32)))
    assert main(["eval", str(tmp_path / "bad.npy"), "--classifier", str(out)]) == 2
    assert "got shape (4, 32, 32)" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.npy"), "--classifier", str(out)]) == 2
    assert main(["eval", str(tmp_path / "real.npy"), "--classifier", str(tmp_path / "nope")]) == 2
    assert "no trained classifier" in capsys.readouterr().err
    np.save(tmp_path / "three.npy", (real[:3, ..., 0] + 1) * 127.5)  # fewer images than k-NN needs
    assert main(["eval", str(tmp_path / "three.npy")]) == 2
    assert "3 images to evaluate: the k-NN metrics need more than --k 5" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "real.npy"), "--k", "300"]) == 2
    assert not (tmp_path / "three.eval.json").exists()


def test_eval_command_on_a_run_directory(tiny_classifier, tiny_cli, tmp_path, capsys):
    """`gan-jax eval RUN_DIR` samples the run's G (the weights it was asked for) and scores them."""
    out, _ = tiny_classifier
    assert main(["train", "mnist_gan", "--run-dir", str(tmp_path / "r"), "--no-progress", *tiny_cli, "train.steps=4",
                 "gan.ema_decay=0.9"]) == 0
    assert main(["eval", str(tmp_path / "r"), "--classifier", str(out), "--n", "40", "--k", "3",
                 "--weights", "live"]) == 0
    assert "(G's live weights)" in capsys.readouterr().out
    results = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert results["weights"] == "live" and results["samples"]["n"] == 40
    assert main(["eval", str(tmp_path / "r"), "--classifier", str(out), "--n", "40", "--json", str(tmp_path / "a.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["weights"] == "ema"  # auto: the run keeps a moving average
    assert main(["eval", str(tmp_path / "r"), "--classifier", str(out), "--weights", "best"]) == 2
    assert "--weights must be one of auto, live, ema, got 'best'" in capsys.readouterr().err


def test_metrics_work_on_images_directly(tiny_classifier):
    """gj.metrics.fd / precision_recall / score take images (any accepted layout and range)."""
    import gan_jax as gj

    out, clf = tiny_classifier
    real = gj.data.images("embedded", limit=300, seed=5)
    test = gj.data.images("embedded", split="test", limit=300)
    assert abs(gj.metrics.fd(real, real, classifier=out)) < 1e-6
    fd_real = gj.metrics.fd(real, test, classifier=clf)
    by_hand = evaluate.frechet_distance(*evaluate.gaussian(clf.apply(real)[0]), *evaluate.gaussian(clf.apply(test)[0]))
    assert fd_real == pytest.approx(by_hand, rel=1e-9)
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype(np.float32)
    assert gj.metrics.fd(noise, test, classifier=out) > 3 * fd_real  # noise is far from digits
    assert gj.metrics.fd((real[..., 0] + 1) * 127.5, test, classifier=out) == pytest.approx(fd_real, rel=1e-4)  # 0..255
    pr = gj.metrics.precision_recall(real, real, k=3, classifier=out)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    assert 1.0 < gj.metrics.score(real, classifier=out) <= 10.0
