"""Conditional GANs on the same engine: conditioning conditions, labels are checked, runs resume bitwise,
the ACGAN loss is what it says, and the CLI samples the classes asked for."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gan_jax as gj
from conftest import tiny_config, with_train
from gan_jax import build, runs
from gan_jax.cli import main
from gan_jax.conditional import LabelledNoise
from gan_jax.config import ConfigError, DataConfig, apply_overrides
from gan_jax.models import conditional_players, mlp_players
from test_gan import _equal


def _zeros_and_ones():
    ds = gj.data.load(DataConfig(source="embedded"))
    keep = ds.labels < 2
    return jnp.asarray(ds.images[keep]), jnp.asarray(ds.labels[keep])


@pytest.mark.parametrize("kind", ["projection", "acgan"])
def test_samples_of_two_labels_differ_along_their_class_means(kind):
    """A small CGAN on the embedded 0s and 1s, 1,500 iterations: the mean sample for label 0 minus the
    mean sample for label 1 points the way of the real 0s' mean minus the 1s' (cosine > 0.15; ignoring the
    labels would give a cosine near 0 of either sign)."""
    x, y = _zeros_and_ones()
    G, D = conditional_players(functools.partial(mlp_players, z_dim=16, hidden=64, d_hidden=64), (28, 28, 1), 2,
                               16, kind)
    gan = gj.GAN(G, D, optax.adam(1e-3), optax.adam(1e-3), z_dim=16, noise=LabelledNoise(16, 2), batch_size=32,
                 loss=gj.losses.ACGANLoss() if kind == "acgan" else gj.losses.non_saturating)
    state = gan.init(0)
    advance = gj.jit(gj.repeat(gan.train_step, 100))
    for _ in range(15):
        state, _ = advance(state, (x, y))
    images, labels = gan.sample(state, gan.noise_fn.for_labels(jax.random.key(5), [0] * 64 + [1] * 64))
    assert labels.tolist() == [0] * 64 + [1] * 64  # G passes the labels through
    s = np.asarray(images).reshape(128, -1)
    real = np.asarray(x).reshape(len(x), -1)
    v = s[:64].mean(0) - s[64:].mean(0)
    w = real[np.asarray(y) == 0].mean(0) - real[np.asarray(y) == 1].mean(0)
    assert float(v @ w / np.linalg.norm(v) / np.linalg.norm(w)) > 0.15


def test_labelled_noise_draws_and_checks_labels():
    noise = LabelledNoise(4, 3, per_class=2)
    z, y = noise(jax.random.key(0), 600)
    assert z.shape == (600, 4) and set(np.asarray(y).tolist()) == {0, 1, 2}
    (gz, gy), cols = noise.grid(jax.random.key(0))
    assert cols == 2 and gy.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(gz[0], gz[2]) and not np.array_equal(gz[0], gz[1])  # the same z in every row
    with pytest.raises(ValueError, match="label 3 is out of range: this model has classes 0 to 2"):
        noise.for_labels(jax.random.key(0), [0, 3])
    with pytest.raises(ValueError, match="classes >= 2"):
        LabelledNoise(4, 1)


def test_acgan_loss_by_hand():
    logit_r, logit_f = jnp.array([2.0, -1.0]), jnp.array([0.5, 0.0])
    cls_r, cls_f = jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([[0.0, 0.0], [3.0, 0.0]])
    y_r, y_f = jnp.array([0, 1]), jnp.array([1, 0])
    d, g = gj.losses.ACGANLoss(weight=0.5, classify_fakes=True)((logit_r, cls_r, y_r), (logit_f, cls_f, y_f))
    sp = lambda t: np.log1p(np.exp(t))  # noqa: E731  softplus
    ce = lambda logits, k: -(logits[k] - np.log(np.exp(logits).sum()))  # noqa: E731
    d_adv = np.mean([sp(-2.0), sp(1.0)]) + np.mean([sp(0.5), sp(0.0)])  # the book's split terms, summed
    g_adv = np.mean([sp(-0.5), sp(-0.0)])
    ce_r = np.mean([ce(np.array([2.0, 0.0]), 0), ce(np.array([0.0, 1.0]), 1)])
    ce_f = np.mean([ce(np.array([0.0, 0.0]), 1), ce(np.array([3.0, 0.0]), 0)])
    assert float(d) == pytest.approx(d_adv + 0.5 * (ce_r + ce_f), rel=1e-5)
    assert float(g) == pytest.approx(g_adv + 0.5 * ce_f, rel=1e-5)
    d, g = gj.losses.ACGANLoss(weight=0.5)((logit_r, cls_r, y_r), (logit_f, cls_f, y_f))  # the default
    assert float(d) == pytest.approx(d_adv + 0.5 * ce_r, rel=1e-5)  # only real samples teach D's classifier
    assert float(g) == pytest.approx(g_adv + 0.5 * ce_f, rel=1e-5)


def _conditional(cfg, **model):
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, classes=10, **model))


@pytest.mark.parametrize("conditioning", ["concat", "projection", "acgan"])
def test_a_conditional_run_resumes_bitwise_and_grids_one_row_per_class(tmp_path, conditioning):
    full = _conditional(tiny_config(steps=8), conditioning=conditioning)
    out = runs.start(full, tmp_path / "full", progress=False)
    assert json.loads((tmp_path / "full" / "data.json").read_text())["labelled"] is True
    from PIL import Image

    grid = Image.open(out.last_grid)
    height = grid.height - gj.viz.TITLE_HEIGHT  # the grid under its title ("full  step 8")
    assert abs(grid.width - height) < 10 and grid.width > 10 * 28  # 10 rows (classes) x 10 columns
    runs.start(with_train(full, steps=4), tmp_path / "half", progress=False)
    runs.resume(tmp_path / "half", ["train.steps=8"], progress=False)
    a, b = runs.load_run(tmp_path / "full"), runs.load_run(tmp_path / "half")
    assert a.step == b.step == 8 and _equal(a.state, b.state)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="model.classes=10: a conditional GAN needs model.name mlp or dcgan"):
        build.engine(_conditional(tiny_config(), name="vae"), (28, 28, 1))
    with pytest.raises(ConfigError, match="model.classes: must be 0"):
        apply_overrides(tiny_config(), ["model.classes=1"])
    few = dataclasses.replace(_conditional(tiny_config()), model=dataclasses.replace(tiny_config().model, classes=5))
    with pytest.raises(ConfigError, match="model.classes=5, but .* has labels 0 to 9; set model.classes to at least 10"):
        runs.start(few, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_cli_samples_the_labels_asked_for(tmp_path, capsys, tiny_cli):
    r = tmp_path / "r"
    assert main(["train", "mnist_gan", "--run-dir", str(r), "--no-progress", *tiny_cli, "train.steps=4",
                 "model.classes=10", "model.conditioning=projection"]) == 0
    assert main(["sample", str(r), "--n", "3", "--label", "2,7", "--out", str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (6, 28, 28, 1)
    assert main(["sample", str(r), "--n", "2", "--label", "all", "--out", str(tmp_path / "g.png")]) == 0
    assert "one row per label (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["eval", str(r), "--n", "40", "--k", "3"]) == 0
    assert "label accuracy (the class asked for)" in capsys.readouterr().out
    cond = json.loads((r / "eval.json").read_text())["conditional"]
    from gan_jax.metrics import frozen

    asked = np.arange(40) % 10  # eval asks for every class equally, with the noise of --seed 0
    _, probs = frozen.load().apply(runs.sample(r, 40, 0, labels=asked))
    assert cond["label_accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == asked)))
    assert cond["classes"] == list(range(10)) and len(cond["fd_per_class"]) == 10
    assert cond["fd_class_mean"] == pytest.approx(np.mean(cond["fd_per_class"]))
    for argv, fragment in [
        (["sample", str(r), "--n", "2", "--label", "10", "--out", str(tmp_path / "z.npy")], "label 10 is out of range"),
        (["sample", str(r), "--n", "2", "--label", "seven", "--out", str(tmp_path / "z.npy")], "--label must be"),
    ]:
        assert main(argv) == 2 and fragment in capsys.readouterr().err
