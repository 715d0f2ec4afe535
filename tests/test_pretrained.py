"""Models shipped in the package, sampled offline as pretrained:NAME."""

import json
import shutil

import jax
import numpy as np
import pytest

import gan_jax as gj
from gan_jax import build, pretrained
from gan_jax.cli import main
from gan_jax.gan import GAN

SHIPPED = ("mnist_gan", "mnist_vae", "mnist_dcgan", "mnist_dcgan_tuned")


def test_the_books_models_are_shipped_with_cards():
    assert set(SHIPPED) <= set(pretrained.names())
    for name in SHIPPED:
        card = pretrained.card(f"pretrained:{name}")
        assert card["iterations"] in (20_000, 30_000) and card["data"].startswith("60000 MNIST training digits")
        assert card["eval.json"]["real_floor"]["fd"] == pytest.approx(1.33, abs=0.01)  # the shipped evaluator's
        assert (pretrained.ROOT / name / "samples.png").stat().st_size > 1000
        assert "/work/" not in (pretrained.ROOT / name / "config.json").read_text()  # no maker's path


def test_load_run_gives_the_trained_generator():
    gan, state, cfg, step = gj.load_run("pretrained:mnist_gan")
    assert isinstance(gan, GAN) and step == 20_000 and cfg.experiment == "mnist_gan"
    x = np.asarray(gan.sample(state, gan.noise(jax.random.key(0), 8)))
    assert x.shape == (8, 28, 28, 1) and -1 <= x.min() and x.max() <= 1
    fresh = gan.init(build.streams(cfg))
    assert not np.allclose(np.asarray(state.g_params["net"]["out"]["kernel"][...]),
                           np.asarray(fresh.g_params["net"]["out"]["kernel"][...]))  # trained, not initial


def test_sample_a_pretrained_model_to_png_and_npy_offline(tmp_path, capsys):
    assert main(["sample", "pretrained:mnist_gan", "--n", "16", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sample", "pretrained:mnist_vae", "--n", "5", "--out", str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (5, 28, 28, 1)
    assert main(["sample", "pretrained:mnist_gna", "--n", "5", "--out", str(tmp_path / "y.npy")]) == 2
    assert "no pretrained model 'mnist_gna'; shipped: " in capsys.readouterr().err
    assert main(["sample", "pretrained:mnist_gan", "--n", "5", "--out", str(tmp_path / "y.npy"), "--weights", "live"]) == 2
    assert main(["sample", "pretrained:mnist_gan", "--n", "5", "--out", str(tmp_path / "y.txt")]) == 2


def test_eval_a_pretrained_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "pretrained:mnist_gan", "--n", "500", "--k", "3"]) == 0
    result = json.loads((tmp_path / "mnist_gan.eval.json").read_text())
    assert result["samples"]["n"] == 500 and result["samples"]["fd"] > 10 * result["real_floor"]["fd"]


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    shutil.copytree(pretrained.ROOT / "mnist_gan", tmp_path / "mnist_gan")
    raw = bytearray((tmp_path / "mnist_gan" / "weights.npz").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (tmp_path / "mnist_gan" / "weights.npz").write_bytes(bytes(raw))
    monkeypatch.setattr(pretrained, "ROOT", tmp_path)
    with pytest.raises(gj.run.RunError, match="does not match its card's sha256"):
        gj.load_run("pretrained:mnist_gan")


def test_every_shipped_file_is_in_the_package_data():
    """A wheel (not only an editable install) carries the evaluator and every shipped model's files."""
    import fnmatch
    import tomllib

    root = pretrained.ROOT.parents[1]  # gan_jax/
    globs = tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gan_jax"]
    files = [p.relative_to(root).as_posix() for p in (root / "assets").rglob("*") if p.is_file()]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert files and not missing, missing


def test_the_accelerator_extras_pin_the_same_jax_as_the_cpu_build():
    import re
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in project["dependencies"] if d.startswith("jax=="))
    version = pinned.split("==")[1]
    extras = project["optional-dependencies"]
    for name in ("cuda12", "cuda13", "tpu"):
        assert extras[name] == [f"jax[{name}]=={version}"]
    assert re.fullmatch(r"jax==\d+\.\d+\.\d+", pinned)
