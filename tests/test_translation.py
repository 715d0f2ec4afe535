"""Translation (gan_jax.translation, models.translate, domains, translate_io): the losses by hand, the history
pool's rule, instance norm against its formula, tiny CycleGAN and pix2pix runs resumed bitwise through the
CLI, the folder loader on generated files (grey, colour, bad files), and `gan-jax translate`."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

import gan_jax as gj
from gan_jax import cli, domains, translation
from gan_jax.config import DataConfig
from gan_jax.data import DataError
from gan_jax.models import translate as models

TINY = ["train.steps=4", "optim.decay=constant", "train.batch_size=2", "train.log_interval=2", "train.sample_interval=2",
        "train.checkpoint_interval=2", "translate.width=2", "translate.blocks=1", "translate.depth=2",
        "translate.d_width=2", "translate.d_layers=1", "translate.pool=2"]


def _host(x):
    return np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)


def same(a, b) -> bool:
    """Bitwise equal pytrees (keys compared by their data)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(_host(x), _host(y)) for x, y in zip(la, lb))


# -- losses and players --------------------------------------------------------------------------------


def test_the_cycle_identity_and_adversarial_losses_by_hand():
    a, b = jnp.zeros((1, 2, 1, 1)), jnp.ones((1, 2, 1, 1))
    back_a = jnp.array([0.5, -0.5]).reshape(1, 2, 1, 1)   # |back_a - a| = 0.5 everywhere
    back_b = jnp.array([1.0, 0.0]).reshape(1, 2, 1, 1)    # |back_b - b| = 0, 1: mean 0.5
    same_a = jnp.array([0.2, 0.2]).reshape(1, 2, 1, 1)    # mean 0.2
    same_b = jnp.array([1.0, 0.4]).reshape(1, 2, 1, 1)    # mean 0.3
    out = translation.cycle_losses(a, b, b, a, back_a, back_b, same_a, same_b, lambda_cycle=10.0, identity=0.5)
    assert float(out["cycle"]) == pytest.approx(10.0 * (0.5 + 0.5))
    assert float(out["identity"]) == pytest.approx(0.5 * 10.0 * (0.3 + 0.2))
    assert "identity" not in translation.cycle_losses(a, b, b, a, back_a, back_b, lambda_cycle=10.0)
    assert float(translation.least_squares(jnp.array([[0.5, 1.5], [1.0, 3.0]]), 1.0)) == pytest.approx(
        (0.25 + 0.25 + 0 + 4) / 4)


def test_the_generator_turn_adds_its_terms_as_the_paper_weights_them():
    game = translation.cyclegan((16, 16, 1), (16, 16, 1), width=2, blocks=1, d_width=2, d_layers=1, pool=2,
                                batch_size=2, identity=0.9, flip=False)
    state = game.init(0)
    data = gj.data.Unpaired(a=jnp.zeros((2, 16, 16, 1)), b=jnp.full((2, 16, 16, 1), 0.5))
    _, m = jax.jit(game.train_step)(state, data)

    @jax.jit
    def by_hand(state, a, b):
        nets = game.nets(state, train=True)
        fake_b, fake_a = nets.G_AB(a), nets.G_BA(b)
        cycle = 10.0 * (jnp.mean(jnp.abs(nets.G_BA(fake_b) - a)) + jnp.mean(jnp.abs(nets.G_AB(fake_a) - b)))
        ident = 0.9 * 10.0 * (jnp.mean(jnp.abs(nets.G_AB(b) - b)) + jnp.mean(jnp.abs(nets.G_BA(a) - a)))
        gan = jnp.mean((nets.D_B(fake_b) - 1) ** 2) + jnp.mean((nets.D_A(fake_a) - 1) ** 2)
        return cycle, ident, gan

    cycle, ident, gan = by_hand(state, data["a"], data["b"])
    assert float(m["cycle"]) == pytest.approx(float(cycle), rel=1e-5)
    assert float(m["identity"]) == pytest.approx(float(ident), rel=1e-5)
    assert float(m["G_loss"]) == pytest.approx(float(cycle + ident + gan), rel=1e-5)


def test_each_turn_trains_its_players_and_only_the_d_turn_moves_the_pools():
    game = translation.cyclegan((16, 16, 1), (16, 16, 3), width=2, blocks=1, d_width=2, d_layers=1, pool=4,
                                batch_size=2, identity=0.0)
    state = game.init(0)
    data = gj.data.Unpaired(a=jnp.zeros((3, 16, 16, 1)), b=jnp.ones((3, 16, 16, 3)))
    g_turn, d_turn = game.turns
    batch = gj.sampling.draw(data, state.data_key, state.step, 2, "replacement")
    play = jax.jit(game.play, static_argnums=1)
    after_g, _ = play(state, g_turn, batch, jax.random.key(1))
    assert same(after_g.params["D_A"], state.params["D_A"]) and same(after_g.rest["pool_A"], state.rest["pool_A"])
    assert not same(after_g.params["G_AB"], state.params["G_AB"])
    after_d, _ = play(after_g, d_turn, batch, jax.random.key(2))
    assert same(after_d.params["G_AB"], after_g.params["G_AB"]) and same(after_d.opt["G_BA"], after_g.opt["G_BA"])
    assert int(after_d.rest["pool_A"]["count"][...]) == 2 and int(after_d.rest["pool_B"]["count"][...]) == 2
    with pytest.raises(ValueError, match="identity"):   # grey <-> colour has no identity loss
        translation.cyclegan((16, 16, 1), (16, 16, 3), identity=0.5)


def test_the_pool_passes_the_first_fakes_through_then_swaps_half():
    pool = translation.HistoryPool(50, (1,))
    first = jnp.arange(50.0)[:, None]
    out = pool(first, jax.random.key(0))
    assert np.array_equal(out, first) and int(pool.count[...]) == 50
    assert np.array_equal(np.sort(pool.images[...][:, 0]), np.arange(50.0))
    new = 1000.0 + jnp.arange(2000.0)[:, None]
    out = np.asarray(pool(new, jax.random.key(1)))[:, 0]
    swapped = out != np.asarray(new)[:, 0]
    assert 0.45 < swapped.mean() < 0.55      # a fair coin per image: 2,000 draws, s.d. 1.1%
    # what came back instead was held before: one of the first 50, or a new image stored earlier in the batch
    assert np.all(np.isin(out[swapped], np.concatenate([np.arange(50.0), 1000.0 + np.arange(2000.0)])))
    assert np.all(out[swapped] < 1000.0 + np.flatnonzero(swapped))
    assert int(pool.count[...]) == 50
    empty = translation.HistoryPool(0, (1,))
    assert np.array_equal(empty(first, jax.random.key(0)), first)


def test_instance_norm_matches_its_formula():
    x = jax.random.normal(jax.random.key(0), (2, 5, 4, 3)) * 3.0 + 1.0
    norm = models._norm(3, "instance", nnx.Rngs(0))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(norm(x), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)


def test_the_players_have_the_reference_implementation_s_sizes():
    """ResNet-9 and the 70x70 PatchGAN at 3 channels: the reference prints 11.378 M and 2.765 M parameters;
    30x30 logits at 256x256."""
    def count(make):
        return sum(x.size for x in jax.tree.leaves(nnx.state(nnx.eval_shape(make), nnx.Param)))

    assert count(lambda: models.ResnetGenerator(3, 3, rngs=nnx.Rngs(0))) == 11_378_179
    assert count(lambda: models.PatchGAN(3, rngs=nnx.Rngs(0))) == 2_764_737
    d = models.PatchGAN(3, width=2, rngs=nnx.Rngs(0))
    assert jax.eval_shape(d, jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)).shape == (1, 30, 30)
    with pytest.raises(ValueError, match="d_layers"):
        models.PatchGAN(1, layers=3, rngs=nnx.Rngs(0))(jnp.zeros((1, 16, 16, 1)))
    with pytest.raises(ValueError, match="divisible by 16"):
        models.UNet(1, 1, depth=4, rngs=nnx.Rngs(0))(jnp.zeros((1, 28, 28, 1)))


def test_augment_crops_each_image_its_own_window_and_flips_pairs_together():
    x = jnp.arange(2 * 8 * 8, dtype=jnp.float32).reshape(2, 8, 8, 1)
    y = translation.augment(x, jax.random.key(3), crop=5, flip=False)
    for i in range(2):  # each crop is a window of its own image
        img = np.asarray(x[i, :, :, 0])
        top_left = float(y[i, 0, 0, 0]) - i * 64
        r, c = int(top_left // 8), int(top_left % 8)
        assert np.array_equal(y[i, :, :, 0], img[r:r + 5, c:c + 5])
    flipped = translation.augment(jnp.concatenate([x, x], -1), jax.random.key(0), flip=True)
    assert np.array_equal(flipped[..., 0], flipped[..., 1])
    with pytest.raises(ValueError, match="crop"):
        translation.augment(x, jax.random.key(0), crop=9)


def test_the_linear_decay_schedule():
    f = translation.schedule(2e-4, 1000)
    assert [float(f(s)) for s in (0, 499, 500, 750, 1000)] == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4, 0.0])


# -- folders -------------------------------------------------------------------------------------------


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _domains(root, n=4, size=16):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for i in range(n):
            _save(root / f"{split}A" / f"{i}.png", rng.integers(0, 255, (size, size), dtype=np.uint8))
            _save(root / f"{split}B" / f"{i}.jpg", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return root


def test_folders_read_grey_and_colour_and_resize(tmp_path):
    root = _domains(tmp_path / "d")
    d = domains.load_domains(DataConfig(source="folders", path=str(root)))
    assert d.image_shape == (16, 16, 1) and d.target_shape == (16, 16, 3) and not d.paired
    png = np.asarray(Image.open(root / "trainA" / "1.png"))
    np.testing.assert_allclose(d.a.images[1, :, :, 0], png / 127.5 - 1.0, atol=1e-6)
    _save(root / "trainA" / "9.png", np.zeros((20, 20, 3), np.uint8))   # a colour image among grey ones
    with pytest.raises(DataError, match=r"9\.png: 20x20 differs.*data.resize"):
        domains.load_domains(DataConfig(source="folders", path=str(root)))
    d = domains.load_domains(DataConfig(source="folders", path=str(root), resize=8))
    assert d.image_shape == (8, 8, 3)    # a folder mixing grey and colour is read as colour
    grey = domains.load_domains(DataConfig(source="folders", path=str(root), resize=8, channels=1))
    assert grey.target_shape == (8, 8, 1)
    one = gj.data.load(DataConfig(source="folders", path=str(root / "trainB")))
    assert one.images.shape == (4, 16, 16, 3)


def test_bad_folders_are_one_line_errors_naming_the_file(tmp_path):
    root = _domains(tmp_path / "d")
    (root / "trainB" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: not a PNG or JPEG"):
        domains.load_domains(DataConfig(source="folders", path=str(root)))
    (root / "trainB" / "notes.txt").unlink()
    (root / "trainB" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: not a readable"):
        domains.load_domains(DataConfig(source="folders", path=str(root)))
    (root / "trainB" / "broken.png").unlink()
    for f in (root / "trainA").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="trainA: the folder holds no images"):
        domains.load_domains(DataConfig(source="folders", path=str(root)))
    with pytest.raises(DataError, match="no trainA/ and trainB/"):
        domains.load_domains(DataConfig(source="folders", path=str(tmp_path)))


def test_pairs_side_by_side_and_by_name(tmp_path):
    side = tmp_path / "facades"
    for i in range(3):
        left, right = np.full((8, 8, 3), 10 * i, np.uint8), np.full((8, 8, 3), 200, np.uint8)
        _save(side / "train" / f"{i}.png", np.concatenate([left, right], axis=1))
    d = domains.load_domains(DataConfig(source="folders", path=str(side), pairs=True))
    assert d.paired and d.image_shape == (8, 8, 3)
    np.testing.assert_allclose(d.a.images[2], 20 / 127.5 - 1.0) and np.testing.assert_allclose(d.b.images, 200 / 127.5 - 1)
    _save(side / "train" / "odd.png", np.zeros((8, 15, 3), np.uint8))
    with pytest.raises(DataError, match=r"odd\.png: 8x15 is not two halves"):
        domains.load_domains(DataConfig(source="folders", path=str(side), pairs=True))
    named = _domains(tmp_path / "named")
    (named / "trainB" / "3.jpg").rename(named / "trainB" / "7.jpg")
    with pytest.raises(DataError, match=r"3\.png: no image of the same name"):
        domains.load_domains(DataConfig(source="folders", path=str(named), pairs=True))


def test_mnist_m_blends_each_digit_into_a_window_of_a_photo():
    zeros, full = np.zeros((3, 28, 28), np.uint8), np.full((3, 28, 28), 255, np.uint8)
    on_black, on_white = domains.blend_mnist_m(zeros, 7), domains.blend_mnist_m(full, 7)
    assert np.array_equal(on_black.astype(int) + on_white, np.full((3, 28, 28, 3), 255))   # |window - digit|
    window = on_black[0]   # a digit of zeros leaves the window itself: find it in a photo
    found = [(y, x) for pic in domains.photos() for y, x in zip(*np.nonzero(np.all(pic == window[0, 0], -1)))
             if y + 28 <= pic.shape[0] and x + 28 <= pic.shape[1] and np.array_equal(pic[y:y + 28, x:x + 28], window)]
    assert found


def test_the_digit_pairs_are_built_offline():
    m = domains.load_domains(DataConfig(source="embedded", pair="mnist_m", split="test", limit=50))
    assert m.image_shape == (28, 28, 1) and m.target_shape == (28, 28, 3)
    assert np.array_equal(m.a.labels, m.b.labels)   # the test digits, and the same digits blended
    train = domains.load_domains(DataConfig(source="embedded", pair="mnist_m", limit=50))
    assert len(train.a.labels) == len(train.b.labels) == 25   # two halves of the training digits
    e = domains.load_domains(DataConfig(source="embedded", pair="edges", split="test", limit=10))
    assert e.paired and e.a.images.shape == e.b.images.shape
    u = domains.load_domains(DataConfig(source="embedded", pair="uci", split="train", limit=10))
    assert len(u.b.labels) == 1797 - domains.UCI_TEST


# -- runs through the CLI ------------------------------------------------------------------------------


def _train(*args) -> int:
    return cli.main(["train", *args, "--no-progress"])


@pytest.mark.parametrize("name,extra", [("mnist_mnistm_cyclegan", ["data.limit=40"]),
                                        ("edges2digits_pix2pix", ["data.limit=40"])])
def test_tiny_translators_resume_bitwise_and_translate(tmp_path, capsys, name, extra):
    common = [*TINY, *extra, "data.source=embedded"]
    assert _train(name, "--run-dir", str(tmp_path / "whole"), "--set", *common) == 0
    assert _train(name, "--run-dir", str(tmp_path / "cut"), "--set", *common, "train.steps=2") == 0
    assert _train(name, "--run-dir", str(tmp_path / "cut"), "--resume", "--set", "train.steps=4") == 0
    whole, cut = gj.load_run(tmp_path / "whole"), gj.load_run(tmp_path / "cut")
    assert whole.step == cut.step == 4 and same(whole.state, cut.state)
    assert json.loads((tmp_path / "whole" / "translation.json").read_text())["a2b"]["n"] > 0
    assert list((tmp_path / "whole" / "samples").glob("*.png"))
    x = gj.data.images("embedded", split="test", limit=3)
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["translate", str(tmp_path / "whole"), "--in", str(tmp_path / "x.npy"),
                     "--out", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(y, whole.engine.transform(whole.state, "a2b", jnp.asarray(x)), atol=1e-6)
    assert cli.main(["translate", str(tmp_path / "whole"), "--in", str(tmp_path / "x.npy"),
                     "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x_0.png", "x_1.png", "x_2.png"]
    assert cli.main(["translate", str(tmp_path / "whole"), "--in", str(tmp_path / "x.npy"),
                     "--out", str(tmp_path / "out")]) == 2   # never overwrites
    assert "exists" in capsys.readouterr().err


def test_a_folder_run_stops_on_a_bad_file_before_writing_anything(tmp_path, capsys):
    root = _domains(tmp_path / "d")
    (root / "trainA" / "readme.md").write_text("x")
    run_dir = tmp_path / "run"
    code = _train("mnist_mnistm_cyclegan", "--run-dir", str(run_dir), "--set", *TINY, "data.source=folders",
                  f"data.path={root}", "data.pair=")
    err = capsys.readouterr().err
    assert code == 2 and "readme.md: not a PNG or JPEG" in err and len(err.strip().splitlines()) == 1
    assert not run_dir.exists()
    (root / "trainA" / "readme.md").unlink()
    assert _train("mnist_mnistm_cyclegan", "--run-dir", str(run_dir), "--set", *TINY, "data.source=folders",
                  f"data.path={root}", "data.pair=") == 0
    assert gj.load_run(run_dir).engine.transforms["b2a"].shape == (16, 16, 3)


def test_a_translator_needs_the_right_data():
    from gan_jax import build
    from gan_jax.config import ConfigError, apply_overrides
    import experiments

    with pytest.raises(ConfigError, match="pix2pix takes data.pairs=true"):
        build.check(apply_overrides(experiments.get_config("edges2digits_pix2pix"), ["data.pair=uci"]))
    with pytest.raises(ConfigError, match="translator"):
        build.check(apply_overrides(experiments.get_config("mnist_gan"), ["data.pair=uci"]))


@pytest.mark.parametrize("name,extra", [("horse2zebra_cyclegan", ["data.resize=20", "translate.crop=16"]),
                                        ("apple2orange_cyclegan", ["data.resize=16"])])
def test_the_paper_s_and_the_book_s_recipes_run_on_folders(tmp_path, name, extra):
    """The horse2zebra and apple2orange experiments on generated folders, at 16x16 (the paper's crop path:
    images resized to 20, random 16x16 windows; the book's U-Net)."""
    root = _domains(tmp_path / "d", size=24)
    run_dir = tmp_path / "run"
    assert _train(name, "--run-dir", str(run_dir), "--set", *TINY, "train.steps=2", f"data.path={root}",
                  "translate.identity=0", *extra) == 0
    loaded = gj.load_run(run_dir)
    assert loaded.engine.transforms["a2b"].shape == (16, 16, 1) and loaded.step == 2
    assert cli.main(["translate", str(run_dir), "--in", str(root / "testB" / "0.jpg"), "--out",
                     str(tmp_path / "a.png"), "--direction", "b2a"]) == 0
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == (16, 16)


def test_a_cyclegan_step_lowers_for_gpu_and_tpu():
    """The step (its pool's scan and the fast transposed convolutions included) exports for cuda and tpu
    without either machine."""
    game = translation.cyclegan((16, 16, 1), (16, 16, 3), width=2, blocks=1, d_width=2, d_layers=1, pool=2,
                                batch_size=2, identity=0.0)
    state = jax.eval_shape(game.init, jax.random.key(0))
    data = gj.data.Unpaired(a=jax.ShapeDtypeStruct((4, 16, 16, 1), jnp.float32),
                            b=jax.ShapeDtypeStruct((4, 16, 16, 3), jnp.float32))
    exported = jax.export.export(jax.jit(game.train_step), platforms=("cuda", "tpu"))(state, data)
    assert exported.platforms == ("cuda", "tpu") and "stablehlo.convolution" in exported.mlir_module()


def test_the_shipped_pix2pix_redraws_digits_from_their_edges_offline(tmp_path):
    """pretrained:edges2digits_pix2pix through `gan-jax translate`: the shipped classifier reads the digits
    it draws from the edges of 200 held-out digits (its card: 98.2% of 10,000)."""
    from gan_jax.metrics import frozen

    pairs = domains.load_domains(DataConfig(source="embedded", pair="edges", split="test", limit=200))
    np.save(tmp_path / "edges.npy", pairs.a.images)
    assert cli.main(["translate", "pretrained:edges2digits_pix2pix", "--in", str(tmp_path / "edges.npy"),
                     "--out", str(tmp_path / "digits.npy")]) == 0
    drawn = np.load(tmp_path / "digits.npy")
    accuracy = np.mean(frozen.load().apply(drawn)[1].argmax(1) == pairs.b.labels)
    assert accuracy >= 0.9
