import json

import pytest

import experiments
from gan_jax import build
from gan_jax import config as config_lib
from gan_jax.config import Config, ConfigError, apply_overrides


def test_overrides_parse_each_type():
    cfg = apply_overrides(Config(), ["train.steps=300", "optim.g_lr=2e-4", "data.download=false",
                                     "data.source=npz", "data.path=/x.npz", "model.z_dim=64"])
    assert (cfg.train.steps, cfg.optim.g_lr, cfg.data.download, cfg.data.path, cfg.model.z_dim) == (300, 2e-4, False, "/x.npz", 64)
    assert isinstance(cfg.optim.g_lr, float) and isinstance(cfg.train.steps, int)


@pytest.mark.parametrize("override, fragment", [
    ("train.stepz=3", "unknown config key 'train.stepz'"),
    ("nope=3", "unknown config key 'nope'"),
    ("train.steps.x=3", "'train.steps' is not a section"),
    ("train=3", "train: is a section"),
    ("train.steps=many", "train.steps: 'many' is not a valid int"),
    ("train.steps=1.5", "train.steps: '1.5' is not a valid int"),
    ("optim.d_lr=fast", "optim.d_lr: 'fast' is not a valid float"),
    ("data.download=maybe", "data.download: 'maybe' is not a valid bool"),
    ("train.batch_size=0", "train.batch_size: must be > 0, got 0"),
    ("train.batch_size=-4", "train.batch_size: must be > 0"),
    ("train.steps=-1", "train.steps: must be >= 0, got -1"),
    ("optim.g_lr=0", "optim.g_lr: must be > 0"),
    ("optim.d_b1=1.0", "optim.d_b1: must be in [0, 1)"),
    ("data.source=floppy", "data.source: got 'floppy', expected one of auto, embedded, tfds, npz, idx"),
    ("data.source=npz", "data.path: source=npz needs a file or folder"),
    ("train.fuse=-1", "train.fuse: must be >= 1, or 0 for the backend's default, got -1"),
    ("steps", "not of the form key=value"),
    ("gan.loss=wasserstein", "gan.gp_weight: loss=wasserstein needs a Lipschitz constraint"),
    ("gan.ema_decay=1", "gan.ema_decay: must be in [0, 1)"),
    ("gan.d_ema_decay=-0.1", "gan.d_ema_decay: must be in [0, 1)"),
    ("gan.n_critic=0", "gan.n_critic: must be >= 1"),
    ("gan.r1_weight=-1", "gan.r1_weight: must be >= 0"),
    ("optim.d_lr=inf", "optim.d_lr: must be a finite number, got 'inf'"),
    ("gan.r1_weight=nan", "gan.r1_weight: must be a finite number"),
    ("seed=9223372036854775808", "seed: must be an integer in 0.."),
    ("sample_seed=-1", "sample_seed: must be an integer in 0.."),
    ("data.seed=-1", "data.seed: must be an integer in 0.."),
])
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as e:
        apply_overrides(Config(), [override])
    assert fragment in str(e.value)


@pytest.mark.parametrize("override, fragment", [
    ("model.name=transformer", "model.name: got 'transformer', expected one of mlp, dcgan, ae, vae"),
    ("model.name=no_such_pkg.nets:build", "model.name: cannot import 'no_such_pkg.nets'"),
    ("model.name=gan_jax.models:no_such", "model.name: 'gan_jax.models' has no 'no_such'"),
    ("model.name=/nowhere/mine.py:build", "model.name: '/nowhere/mine.py:build': no file"),
    ("gan.loss=energy", "gan.loss: got 'energy', expected one of non_saturating, minimax, least_squares, hinge"),
    ("model.d_norm=group", "model.d_norm: got 'group'"),
    ("ae.activation=swish", "ae.activation: got 'swish'"),
])
def test_names_are_checked_by_the_builder(override, fragment):
    """Names (built-in or import paths) are resolved by gan_jax.build, which config.py does not import."""
    cfg = apply_overrides(Config(), [override])
    with pytest.raises(ConfigError) as e:
        build.check(cfg)
    assert fragment in str(e.value)


def test_label_smoothing_only_where_a_target_exists():
    cfg = apply_overrides(Config(), ["gan.label_smoothing=0.1"])
    assert build.loss(cfg).smoothing == 0.1
    with pytest.raises(ConfigError, match="gan.label_smoothing: .* not hinge"):
        build.check(apply_overrides(Config(), ["gan.loss=hinge", "gan.label_smoothing=0.1"]))


def test_model_kwargs_parse_as_a_json_object_and_round_trip():
    cfg = apply_overrides(Config(), ['model.kwargs={"width": 64, "act": "relu"}'])
    assert cfg.model.kwargs == {"width": 64, "act": "relu"}
    assert config_lib.from_dict(json.loads(config_lib.to_json(cfg))) == cfg
    with pytest.raises(ConfigError, match="model.kwargs: .* is not a valid JSON object"):
        apply_overrides(Config(), ["model.kwargs=[1, 2]"])


def test_config_imports_nothing_from_the_package():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(config_lib))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith(("gan_jax", "experiments"))], imported


def test_json_round_trip_and_type_checks():
    cfg = apply_overrides(Config(), ["train.steps=300", "data.seed=7"])
    assert config_lib.from_dict(json.loads(config_lib.to_json(cfg))) == cfg
    with pytest.raises(ConfigError, match="train.steps: expected int, got str"):
        config_lib.from_dict({"train": {"steps": "300"}})
    with pytest.raises(ConfigError, match="train.steps: expected int, got bool"):
        config_lib.from_dict({"train": {"steps": True}})
    with pytest.raises(ConfigError, match="unknown config key 'train.bogus'"):
        config_lib.from_dict({"train": {"bogus": 1}})


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        Config().train.steps = 3


def test_mnist_gan_is_the_books_recipe():
    cfg = experiments.get_config("mnist_gan")
    assert (cfg.train.batch_size, cfg.train.steps, cfg.train.sample_interval) == (128, 20_000, 1_000)
    assert (cfg.optim.g_lr, cfg.model.z_dim, cfg.model.hidden, cfg.model.leak) == (1e-3, 100, 128, 0.01)
    assert cfg.data.source == "auto"


def test_unknown_experiment_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown experiment 'mnist_gna'; available: .*mnist_gan"):
        experiments.get_config("mnist_gna")
