"""Several seeds at once (`gan_jax.Seeds`, `gan-jax train --seeds`): each seed is its own run, one run
directory holds them all, resume continues every seed, eval reports mean ± s.e."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from conftest import tiny_config, with_train
from gan_jax import build, runs, seeds
from gan_jax.cli import main
from gan_jax.config import ConfigError
from gan_jax.seeds import Seeds, mean_se, summarise
from test_gan import _equal


def _floats(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)
            if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]


def _max_diff(a, b) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(_floats(a), _floats(b)))


def test_seed_i_is_the_single_run_of_its_keys(images):
    """Seed 1 of three starts bitwise equal to the single run with seed=1, data.seed=1 and follows it
    through a step up to float rounding (vmap batches the matmuls); the other seeds differ."""
    cfg = with_train(tiny_config(), seeds=3)
    together = build.engine(cfg, (28, 28, 1))
    one_cfg = dataclasses.replace(tiny_config(), seed=1, data=dataclasses.replace(tiny_config().data, seed=1))
    alone = build.engine(one_cfg, (28, 28, 1))
    stacked, single = together.init(build.streams(cfg)), alone.init(build.streams(one_cfg))
    assert _equal(together.member(stacked, 1), single)
    assert _max_diff(together.member(stacked, 0), single) > 1e-3
    stacked, m3 = jax.jit(together.train_step)(stacked, images)
    single, m1 = jax.jit(alone.train_step)(single, images)
    assert _max_diff(together.member(stacked, 1), single) < 1e-5
    assert abs(float(m3["d_loss/seed1"]) - float(m1["d_loss"])) < 1e-5
    per_seed = [float(m3[f"d_loss/seed{i}"]) for i in range(3)]
    assert float(m3["d_loss"]) == pytest.approx(np.mean(per_seed), rel=1e-6)
    assert len(set(per_seed)) == 3


def test_keys_and_bad_arguments():
    gan = build.engine(tiny_config(), (28, 28, 1))
    s = Seeds(gan, 4)
    assert s.keys(0).shape == (4,)
    assert s.keys(jax.random.split(jax.random.key(0), 4)).shape == (4,)
    with pytest.raises(ValueError, match=r"keys of shape \(4,\)"):
        s.keys(jax.random.split(jax.random.key(0), 3))
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        Seeds(gan, 0)
    with pytest.raises(ValueError, match="Seeds of Seeds"):
        Seeds(s, 2)
    with pytest.raises(IndexError, match="out of range for 4 seeds"):
        s.member(s.init(0), 4)
    with pytest.raises(ConfigError, match="seeds: 3 seeds train on one device"):
        with_train(tiny_config(), seeds=3, devices=2)


def test_mean_se_and_summarise_by_hand():
    assert mean_se([2.0, 4.0]) == (3.0, 1.0)  # std (ddof 1) sqrt(2), / sqrt(2)
    assert mean_se([5.0]) == (5.0, 0.0)
    m, e = summarise([{"fd": 1.0, "counts": [1, 3], "name": "x", "n": 7},
                      {"fd": 2.0, "counts": [3, 3], "name": "x", "n": 7},
                      {"fd": 6.0, "counts": [2, 3], "name": "x", "n": 7}])
    assert m == {"fd": 3.0, "counts": [2.0, 3.0], "name": "x", "n": 7}
    assert e["fd"] == pytest.approx(np.sqrt(7.0 / 3.0)) and e["counts"] == [pytest.approx(1 / np.sqrt(3)), 0.0]
    assert e["n"] == 0.0 and "name" not in e
    assert seeds.base_metric("d_loss/seed12") == "d_loss" and seeds.base_metric("a/seedling") == "a/seedling"


def test_a_seeds_run_writes_every_seed_and_resumes_bitwise(tmp_path):
    cfg = with_train(tiny_config(steps=8), seeds=2)
    out = runs.start(cfg, tmp_path / "full", progress=False)
    assert out.reason == "done" and out.step == 8
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["g_loss"] == pytest.approx((row["g_loss/seed0"] + row["g_loss/seed1"]) / 2, rel=1e-6)
    assert rows[-1]["g_loss/seed0"] != rows[-1]["g_loss/seed1"]
    grid = (tmp_path / "full" / "samples" / "step_000008.png")
    from PIL import Image

    single = tmp_path / "single"
    runs.start(tiny_config(steps=4, sample_interval=4), single, progress=False)
    assert Image.open(grid).width > 2 * Image.open(single / "samples" / "step_000004.png").width  # two grids
    runs.start(with_train(cfg, steps=4), tmp_path / "half", progress=False)
    runs.resume(tmp_path / "half", ["train.steps=8"], progress=False)
    a, b = runs.load_run(tmp_path / "full"), runs.load_run(tmp_path / "half")
    assert isinstance(a.engine, Seeds) and a.step == b.step == 8 and _equal(a.state, b.state)


def test_cli_seeds_train_sample_eval(tmp_path, capsys, tiny_cli):
    r = tmp_path / "r"
    assert main(["train", "mnist_gan", "--seeds", "2", "--run-dir", str(r), "--no-progress", *tiny_cli,
                 "train.steps=4"]) == 0
    assert json.loads((r / "config.json").read_text())["train"]["seeds"] == 2
    assert main(["sample", str(r), "--n", "6", "--out", str(tmp_path / "all.npy")]) == 0
    assert main(["sample", str(r), "--n", "6", "--out", str(tmp_path / "one.npy"), "--seed-index", "1"]) == 0
    both, one = np.load(tmp_path / "all.npy"), np.load(tmp_path / "one.npy")
    assert both.shape == (2, 6, 28, 28, 1) and one.shape == (6, 28, 28, 1)
    np.testing.assert_allclose(both[1], one, atol=1e-6)
    assert not np.allclose(both[0], both[1])
    assert main(["sample", str(r), "--n", "6", "--out", str(tmp_path / "grid.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(r), "--n", "40", "--k", "3"]) == 0
    printed = capsys.readouterr().out
    assert "from each of 2 seeds" in printed and "mean ± s.e." in printed
    result = json.loads((r / "eval.json").read_text())
    fds = [s["fd"] for s in result["per_seed"]]
    assert result["seeds"] == 2 and result["samples"]["fd"] == pytest.approx(np.mean(fds))
    assert result["samples_se"]["fd"] == pytest.approx(abs(fds[0] - fds[1]) / 2)
    for argv, fragment in [
        (["sample", str(r), "--n", "2", "--out", str(tmp_path / "x.npy"), "--seed-index", "2"], "has seeds 0 to 1"),
        (["train", "mnist_gan", "--seeds", "0", "--run-dir", str(tmp_path / "z")], "--seeds must be >= 1"),
        (["train", "mnist_gan", "--seeds", "2", "--run-dir", str(r), "--resume"], "--seeds is fixed when a run starts"),
    ]:
        assert main(argv) == 2 and fragment in capsys.readouterr().err


def test_autoencoder_seeds_report_mean_and_se(tmp_path):
    cfg = tiny_config(steps=4)
    cfg = dataclasses.replace(cfg, experiment="mnist_vae", model=dataclasses.replace(cfg.model, name="vae", z_dim=2))
    out = runs.start(with_train(cfg, seeds=2), tmp_path / "v", progress=False)
    assert out.step == 4
    top = json.loads((tmp_path / "v" / "ae_eval.json").read_text())
    each = [json.loads((tmp_path / "v" / f"seed{i}" / "ae_eval.json").read_text())["test_elbo"] for i in (0, 1)]
    assert top["seeds"] == 2 and top["test_elbo"] == pytest.approx(np.mean(each))
    assert top["se"]["test_elbo"] == pytest.approx(abs(each[0] - each[1]) / 2) and top["se"]["test_elbo"] > 0
    assert (tmp_path / "v" / "seed1" / "reconstructions.png").is_file()
    assert main(["likelihood", str(tmp_path / "v"), "--k", "2"]) == 2  # one seed's run only, said clearly
