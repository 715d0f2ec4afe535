"""The semi-supervised GAN on the same engine: its loss by hand on a 3-class toy, D's logsumexp logit, the
stratified labelled subset, the engine's two-part batches, a toy that learns to classify from 2 labels per
class, seeds with their own subsets, and a bitwise resume."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
import pytest

import gan_jax as gj
from gan_jax import sampling
from gan_jax.data import Dataset, labelled_subset
from gan_jax.models import mlp
from gan_jax.semi_supervised import SemiSupervised, SemiSupervisedDiscriminator, SemiSupervisedLoss, classifier_accuracy
from gan_jax.sampling import Parts
from test_gan import _equal


def _softplus(x):
    return np.log1p(np.exp(x))


def test_semi_supervised_loss_by_hand_on_three_classes():
    """D: CE on the labelled logits + softplus(-lse(real)) + softplus(lse(fake)); G: softplus(-lse(fake)),
    or with feature matching the squared distance of the mean features."""
    c_lab = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    y_lab = np.array([0, 2])
    l_real, l_fake = np.array([1.0, -0.5]), np.array([0.3, -2.0])
    h_real, h_fake = np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    logp = c_lab - np.log(np.exp(c_lab).sum(1, keepdims=True))
    ce = -(logp[0, 0] + logp[1, 2]) / 2
    d_adv = _softplus(-l_real).mean() + _softplus(l_fake).mean()
    real = tuple(map(jnp.asarray, (l_real, c_lab, y_lab, h_real)))
    fake = tuple(map(jnp.asarray, (l_fake, h_fake)))
    d, g = SemiSupervisedLoss()(real, fake)
    assert float(d) == pytest.approx(ce + d_adv, rel=1e-6)
    assert float(g) == pytest.approx(_softplus(-l_fake).mean(), rel=1e-6)
    d_fm, g_fm = SemiSupervisedLoss(feature_matching=True, unsupervised=0.5)(real, fake)
    assert float(d_fm) == pytest.approx(ce + 0.5 * d_adv, rel=1e-6)
    assert float(g_fm) == pytest.approx(((h_real.mean(0) - h_fake.mean(0)) ** 2).sum(), rel=1e-6)  # (1.5^2 + 0.5^2)
    with pytest.raises(ValueError, match="SemiSupervisedDiscriminator's outputs"):
        SemiSupervisedLoss()(fake, fake)


def _toy_d(classes=3):
    return functools.partial(SemiSupervisedDiscriminator, functools.partial(mlp.Discriminator, (2,), 16, 1, 0.2),
                             classes)


def test_d_logit_is_the_logsumexp_of_its_class_logits():
    d = _toy_d()(rngs=nnx.Rngs(0))
    x, xl, yl = jnp.arange(8.0).reshape(4, 2) / 8, jnp.ones((3, 2)), jnp.array([0, 1, 2])
    logit, feats = d(x)
    c = np.asarray(d.classify(x))
    assert np.allclose(logit, np.log(np.exp(c).sum(1)), rtol=1e-6) and feats.shape == (4, 16)
    logit2, c_lab, y_out, h = d((x, (xl, yl)))
    assert np.allclose(logit2, logit, rtol=1e-6) and np.allclose(c_lab, d.classify(xl), rtol=1e-6)
    assert y_out.tolist() == [0, 1, 2] and np.allclose(h, feats)


def test_labelled_subset_is_stratified_seeded_and_checked():
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    a = labelled_subset(labels, 10, seed=3)
    assert a.size == 100 and len(set(a.tolist())) == 100
    assert np.bincount(labels[a], minlength=10).tolist() == [10] * 10
    assert np.array_equal(a, labelled_subset(labels, 10, seed=3))
    assert not np.array_equal(a, labelled_subset(labels, 10, seed=4))
    with pytest.raises(ValueError, match="class .* has only 50 examples; lower it to at most 50"):
        labelled_subset(labels, 51, seed=0)


def test_semi_supervised_data_carries_only_the_subsets_labels():
    rng = np.random.default_rng(1)
    ds = Dataset(rng.normal(size=(60, 2)).astype(np.float32), np.repeat(np.arange(3), 20).astype(np.int32), "toy")
    images, (xl, yl) = SemiSupervised(ds, 2, 5).images
    idx = labelled_subset(ds.labels, 2, 5)
    assert images is ds.images and np.array_equal(xl, ds.images[idx]) and np.array_equal(yl, ds.labels[idx])
    _, (xs, ys) = SemiSupervised(ds, 2, (5, 6)).images  # one subset per seed, stacked
    assert xs.shape == (2, 6, 2) and np.array_equal(ys[0], yl) and SemiSupervised(ds, 2, 5).describe()[
        "labelled_indices"] == idx.tolist()


def test_part_zero_is_drawn_as_a_plain_dataset_and_parts_independently():
    key, step = jax.random.key(7), jnp.asarray(3)
    x = jnp.arange(50.0)
    for mode in sampling.SAMPLING:
        plain = sampling.draw(x, key, step, 8, mode)
        assert np.array_equal(plain, x[sampling.batch_indices(key, step, 50, 8, mode)])
        first, second = sampling.draw(Parts(x, x), key, step, 8, mode)
        assert np.array_equal(first, plain) and not np.array_equal(second, plain)


def _three_clusters(n=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.6, 0.0], [-0.3, 0.5], [-0.3, -0.5]])
    y = rng.integers(0, 3, n)
    return Dataset((centres[y] + 0.08 * rng.normal(size=(n, 2))).astype(np.float32), y.astype(np.int32), "toy")


def _sgan(**loss):
    G = functools.partial(mlp.Generator, 4, (2,), 16, 1, 0.2, output="linear")
    return gj.GAN(G, _toy_d(), optax.adam(2e-3), optax.adam(2e-3), loss=SemiSupervisedLoss(**loss), z_dim=4,
                  batch_size=32)


def _accuracy(gan, state, ds):
    d = gan.d.merge(state.d_params, state.d_rest, "float32")
    return float(np.mean(np.argmax(np.asarray(d.classify(jnp.asarray(ds.images))), 1) == ds.labels))


def test_classifier_accuracy_counts_argmax_hits_in_padded_batches_and_per_seed():
    ds = _three_clusters(203, seed=2)
    gan = _sgan()
    state = gan.init(0)
    by_hand = _accuracy(gan, state, ds)
    assert classifier_accuracy(gan, state, ds.images, ds.labels, batch=50) == pytest.approx(by_hand)
    seeds = gj.Seeds(gan, 2)
    stacked = seeds.init(jax.random.key(1))
    per_seed = classifier_accuracy(seeds, stacked, ds.images, ds.labels, batch=64)
    assert per_seed == pytest.approx([_accuracy(gan, seeds.member(stacked, i), ds) for i in range(2)])
    # with D's moving average kept, auto and ema read it and live the trained weights
    other = gan.init(7)
    averaged = state.replace(d_ema=other.d_params)
    assert _accuracy(gan, other, ds) != by_hand
    for weights, expected in (("auto", _accuracy(gan, other, ds)), ("ema", _accuracy(gan, other, ds)),
                              ("live", by_hand)):
        assert classifier_accuracy(gan, averaged, ds.images, ds.labels, weights=weights) == \
            pytest.approx(expected)
    with pytest.raises(ValueError, match="keeps no moving average of D"):
        classifier_accuracy(gan, state, ds.images, ds.labels, weights="ema")
    with pytest.raises(ValueError, match="classify"):
        plain = gj.GAN(functools.partial(mlp.Generator, 4, (2,), 8, 1, 0.2), functools.partial(
            mlp.Discriminator, (2,), 8, 1, 0.2), optax.adam(1e-3), optax.adam(1e-3), z_dim=4, batch_size=8)
        classifier_accuracy(plain, plain.init(0), ds.images, ds.labels)


@pytest.mark.parametrize("feature_matching", [False, True])
def test_a_toy_sgan_learns_three_classes_from_two_labels_each(feature_matching):
    """600 unlabelled points in 3 clusters, 2 labels per cluster, 300 iterations: D's classifier labels
    held-out points of the clusters (accuracy > 0.95; chance is 1/3)."""
    ds, test = _three_clusters(), _three_clusters(300, seed=1)
    gan = _sgan(feature_matching=feature_matching)
    state = gan.init(0)
    state, metrics = gj.jit(gj.repeat(gan.train_step, 300))(state, SemiSupervised(ds, 2, 0).images)
    assert np.all(np.isfinite(metrics["d_loss"])) and _accuracy(gan, state, test) > 0.95


def test_seeds_train_their_own_subsets_and_resume_bitwise(tmp_path):
    ds = _three_clusters()
    seeds = gj.Seeds(_sgan().replace(d_ema_decay=0.9), 2, data_axes=Parts(None, 0))  # D's average saved too
    data = SemiSupervised(ds, 2, (0, 1))
    full = gj.fit(seeds, data, run_dir=tmp_path / "full", steps=6, key=jax.random.key(0), progress=False)
    gj.fit(seeds, data, run_dir=tmp_path / "half", steps=3, key=jax.random.key(0), progress=False)
    half = gj.fit(seeds, data, run_dir=tmp_path / "half", steps=6, resume=True, progress=False)
    assert _equal(full.state, half.state) and full.state.d_ema is not None
    one = seeds.member(full.state, 0).d_params, seeds.member(full.state, 1).d_params
    assert not _equal(*one)


def _sgan_config(*overrides):
    import experiments
    from gan_jax.config import apply_overrides

    return apply_overrides(experiments.get_config("mnist_sgan"), [
        "data.source=embedded", "train.steps=20", "train.batch_size=16", "train.log_interval=10",
        "train.sample_interval=20", "train.checkpoint_interval=10",
        'model.kwargs={"widths": [32, 16], "g_hidden": 32}', *overrides])


def test_the_config_path_gives_each_seed_its_subset_and_reports_d_accuracy(tmp_path):
    """`gan-jax train mnist_sgan --seeds 2` on the embedded digits: two stratified labelled subsets (one
    per seed, from data.seed + i), D's test accuracy per seed written at the end (of D's moving average and
    of its trained weights) and at every sample step (scores.jsonl, accuracy.png: the last row is the
    report's), and `gan-jax eval` adds the same accuracy beside the sample metrics."""
    import json

    from gan_jax import build, runs, viz
    from gan_jax.cli import main

    cfg = _sgan_config("train.seeds=2", "gan.d_ema_decay=0.9", "train.sample_interval=10")
    run_dir = tmp_path / "sgan"
    runs.start(cfg, run_dir, progress=False)
    _, ds = build.load_data(cfg)
    idx = np.array(json.loads((run_dir / "data.json").read_text())["labelled_indices"])
    assert idx.shape == (2, 100) and not np.array_equal(idx[0], idx[1])
    for subset, seed in zip(idx, (0, 1)):
        assert np.array_equal(subset, labelled_subset(ds.labels, 10, seed))
        assert np.array_equal(np.bincount(ds.labels[subset], minlength=10), np.full(10, 10))
    report = json.loads((run_dir / "classifier.json").read_text())
    assert report["test_images"] == 1000 and "test" in report["test_source"] and report["labels"] == 100
    assert len(report["test_accuracy_per_seed"]) == len(report["live_test_accuracy_per_seed"]) == 2
    assert report["test_accuracy"] == pytest.approx(np.mean(report["test_accuracy_per_seed"]))
    assert report["weights"] == "ema"  # scored with D's moving average, the trained weights' beside it
    rows = viz.read_metrics(run_dir / "scores.jsonl")
    assert [r["step"] for r in rows] == [10, 20] and (run_dir / "accuracy.png").is_file()
    last = rows[-1]
    for prefix in ("", "live_"):
        assert [last[f"{prefix}test_accuracy/seed{i}"] for i in (0, 1)] == report[f"{prefix}test_accuracy_per_seed"]
        assert last[f"{prefix}test_accuracy"] == pytest.approx(report[f"{prefix}test_accuracy"])
        assert last[f"{prefix}test_accuracy_se"] == pytest.approx(report[f"{prefix}test_accuracy_se"])
    assert rows[0]["test_accuracy/seed0"] != last["test_accuracy/seed0"]  # scored at its own step
    assert main(["eval", str(run_dir), "--n", "200"]) == 0
    evaluated = json.loads((run_dir / "eval.json").read_text())["d_classifier"]
    assert evaluated["test_accuracy_per_seed"] == pytest.approx(report["test_accuracy_per_seed"])


@pytest.mark.parametrize("overrides, message", [
    (["data.labels_per_class=401"], "data.labels_per_class: .*only"),
    (["data.split=test"], "data.split: a semi-supervised run trains on the train split"),
    (["gan.loss=non_saturating"], "data.labels_per_class=10: a labelled subset is the data of a semi-supervised"),
    (['model.kwargs={"widths": [32, 16], "g_hidden": 32, "classes": 8}'],
     r"has labels 0 to 9, but D \(model.name=experiments.mnist_sgan:players\) classifies 8 classes, 0 .. 7"),
])
def test_bad_semi_supervised_configs_fail_before_training_naming_the_key(tmp_path, overrides, message):
    from gan_jax import runs
    from gan_jax.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        runs.start(_sgan_config(*overrides), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_data_dependent_init_standardises_the_first_training_batch_and_then_stays():
    """Salimans et al.'s dense layer: the first training pass sets scale = 1/std and shift = -mean/std per
    unit (its outputs then have mean 0 and std 1 on that batch); later passes leave them; an untrained
    layer in inference is the plain projection onto v / |v|."""
    from experiments.mnist_sgan import DataInitLinear

    layer = DataInitLinear(6, 4, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (50, 6)) * 3.0 + 2.0
    v = np.asarray(layer.v[...])
    projected = np.asarray(x) @ (v / np.linalg.norm(v, axis=0))
    np.testing.assert_allclose(layer(x), projected, rtol=1e-5, atol=1e-5)  # inference, before any training
    first = np.asarray(layer(x, train=True))
    np.testing.assert_allclose(first.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(first.std(0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(layer.scale[...], 1.0 / projected.std(0), rtol=1e-4)
    layer(x * 10.0 - 5.0, train=True)  # another batch: no change
    np.testing.assert_allclose(layer(x), first, rtol=1e-5, atol=1e-5)


def test_the_engine_carries_the_data_dependent_init_through_its_steps():
    """Inside the compiled step the init lives in D's non-parameter state: set by step 1's real pass (the
    fake pass and G's turn see it), kept by step 2, and its scale is not a parameter Adam moves."""
    import experiments
    from experiments import mnist_sgan
    from gan_jax import build
    from gan_jax.config import apply_overrides

    cfg = apply_overrides(experiments.get_config("mnist_sgan"), [
        "data.source=embedded", "train.batch_size=16",
        'model.kwargs={"widths": [32, 16], "g_hidden": 32, "data_init": true, "head_noise": true}'])
    cfg, ds = build.load_data(cfg)
    gan = build.engine(cfg, ds.images.shape[1:])
    state = gan.init(jax.random.key(0))
    assert all("scale" not in str(path) for path, _ in jax.tree_util.tree_leaves_with_path(state.d_params))
    images = SemiSupervised(ds, 10, 0).images
    step = jax.jit(gan.train_step)
    one, _ = step(state, images)
    readies = [x for path, x in jax.tree_util.tree_leaves_with_path(one.d_rest) if "ready" in str(path)]
    assert len(readies) == 3 and all(float(r) == 1.0 for r in readies)  # 2 hidden layers and the head
    scales = lambda s: [x for path, x in jax.tree_util.tree_leaves_with_path(s.d_rest) if "scale" in str(path)]
    assert not np.allclose(scales(one)[0], 1.0)
    two, _ = step(one, images)
    assert all(np.array_equal(a, b) for a, b in zip(scales(one), scales(two)))
    assert mnist_sgan.players((28, 28, 1))  # the default players build without the option
