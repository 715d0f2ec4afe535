"""A run records how its engine was made (`gj.recipe` -> engine.json), and another process rebuilds it
only when told to trust that code."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import gan_jax as gj
from gan_jax import game, recipes, run, runs

ROOT = Path(__file__).resolve().parents[1]
DATA = np.ones((8, 2), np.float32)

# a user's file: importing it leaves a mark, so a test can see whether loading ran it
USER_FILE = textwrap.dedent("""
    from pathlib import Path
    import gan_jax as gj
    from gan_jax import game

    Path(__file__).with_name("imported").write_text("yes")

    @gj.recipe
    def tiny(rate: float = 0.1, tags: tuple = ()):
        return game._tiny_game(rate)
""")


def _user_recipe(tmp_path):
    (tmp_path / "user_game.py").write_text(USER_FILE)
    fn = recipes.resolve(f"{tmp_path / 'user_game.py'}:tiny", "test")
    (tmp_path / "imported").unlink()
    return fn


def test_a_recipe_records_its_function_and_every_argument_by_name(tmp_path):
    tiny = _user_recipe(tmp_path)
    engine = tiny(0.5)
    assert engine.recipe == {"factory": f"{(tmp_path / 'user_game.py').resolve()}:tiny",
                             "kwargs": {"rate": 0.5, "tags": []}}  # positional and default arguments, named
    assert gj.Seeds(engine, 3).recipe == {**engine.recipe, "seeds": 3}
    with pytest.raises(TypeError, match="recorded in the run as JSON"):
        tiny(rate=object())

    def inner():
        return game._tiny_game()

    with pytest.raises(ValueError, match="top level"):
        gj.recipe(inner)


def test_loading_runs_the_recorded_code_only_when_trusted(tmp_path):
    tiny = _user_recipe(tmp_path)
    out = gj.fit(tiny(rate=0.2), DATA, run_dir=tmp_path / "run", steps=3, progress=False, config={"mine": 1})
    recorded = json.loads((tmp_path / "run" / "engine.json").read_text())
    assert recorded["kwargs"] == {"rate": 0.2, "tags": []}
    for name in [m for m in sys.modules if m.startswith("_gan_jax_user_")]:  # as in a new process
        del sys.modules[name]
    with pytest.raises(recipes.UntrustedCode, match=r"user_game.py:tiny\(rate=0.2, tags=\[\]\).*trust=True"):
        gj.load_run(tmp_path / "run")
    assert not (tmp_path / "imported").exists()  # refused before importing anything
    engine, state, cfg, step = gj.load_run(tmp_path / "run", trust=True)
    assert (tmp_path / "imported").exists() and step == 3 and cfg is None  # config.json: the user's own settings
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), state.params, out.state.params))
    assert engine.tx["D"] is not None and engine.recipe == recorded


def test_seeds_of_a_recipe_reload_as_seeds(tmp_path):
    tiny = gj.recipe(game._tiny_game)
    gj.fit(gj.Seeds(tiny(), 2), DATA, run_dir=tmp_path / "run", steps=2, progress=False)
    engine, state, _, _ = gj.load_run(tmp_path / "run", trust=True)
    assert engine.n == 2 and state.params["D"]["linear"]["kernel"].shape == (2, 2, 1)


def test_a_python_run_with_settings_of_its_own_says_how_to_load_it(tmp_path):
    gj.fit(game._tiny_game(), DATA, run_dir=tmp_path / "run", steps=1, progress=False, config={"mine": 1})
    assert not (tmp_path / "run" / "engine.json").exists()  # no recipe: nothing recorded
    with pytest.raises(run.RunError, match=r"not a gan-jax experiment config.*engine=\.\.\."):
        gj.load_run(tmp_path / "run")
    assert gj.load_run(tmp_path / "run", engine=game._tiny_game()).step == 1


def test_a_config_run_records_its_experiment(tmp_path):
    import experiments
    from gan_jax import config as config_lib

    cfg = config_lib.apply_overrides(experiments.get_config("mnist_gan"), [
        "data.source=embedded", "train.steps=2", "train.log_interval=1", "train.sample_interval=2",
        "train.checkpoint_interval=2", "model.hidden=8"])
    runs.start(cfg, tmp_path / "run", progress=False)
    assert runs.recorded_engine(tmp_path / "run") == {"experiment": "mnist_gan"}
    assert runs.load_run(tmp_path / "run").config.experiment == "mnist_gan"  # no trust needed: built-in models


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "gan_jax.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_the_bigan_example_samples_and_evaluates_in_a_new_process(tmp_path):
    made = subprocess.run([sys.executable, str(ROOT / "examples" / "bigan.py"), "--steps", "4", "--run-dir",
                           tmp_path / "run"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    refused = _cli("sample", tmp_path / "run", "--n", 8, "--out", tmp_path / "x.npy", cwd=tmp_path)
    assert refused.returncode == 2 and "--trust" in refused.stderr and "bigan.py:bigan" in refused.stderr
    assert not (tmp_path / "x.npy").exists()
    sampled = _cli("sample", tmp_path / "run", "--n", 8, "--out", tmp_path / "x.npy", "--trust", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    images = np.load(tmp_path / "x.npy")
    assert images.shape == (8, 28, 28, 1) and np.abs(images).max() <= 1
    scored = _cli("eval", tmp_path / "run", "--n", 40, "--k", 3, "--trust", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert results["weights"] == "auto" and np.isfinite(results["samples"]["fd"])
    live = _cli("sample", tmp_path / "run", "--n", 8, "--out", tmp_path / "y.npy", "--trust", "--weights", "ema",
                cwd=tmp_path)
    assert live.returncode == 2 and "use --weights auto" in live.stderr


def test_a_preview_function_draws_rows_of_input_output_back(tmp_path):
    from PIL import Image

    tiny = game._tiny_game()
    inputs = np.full((2, 4, 4, 1), -1.0, np.float32)  # black
    fn = gj.previews.round_trip(tiny, inputs, there=lambda nets, x: -x, back=lambda nets, y: 0 * y)
    rows = fn(tiny.init(0))
    assert rows.shape == (2, 3, 4, 4, 1) and rows[:, 1].min() == 1 and rows[:, 2].max() == 0
    out = gj.fit(tiny, DATA, run_dir=tmp_path / "run", steps=2, sample_interval=2, progress=False, preview=fn)
    grid = np.asarray(Image.open(out.last_grid))
    # the grid's tiles: 3 per row (input black, output white, back grey), 2 rows; a title strip above
    tiles = grid[-(2 * 4 + 3 * 2) * 3:]  # 2 rows of 4-pixel tiles with 2-pixel padding, scaled 3x
    first_row = tiles[2 * 3:6 * 3, :]
    assert first_row[:, 2 * 3:6 * 3].max() == 0 and first_row[:, 8 * 3:12 * 3].min() == 255
    assert set(np.unique(first_row[:, 14 * 3:18 * 3])) == {128}
    with pytest.raises(ValueError, match="R x C x H x W x C"):
        gj.fit(tiny, DATA, run_dir=tmp_path / "bad", steps=1, progress=False, preview=lambda state: np.zeros(3))
