"""Runs of an experiment's config: start one, resume it, load it (or a run of a `gan_jax.recipe`'s engine,
or a model shipped in the package), and sample from it. The `gan-jax` command's train, sample and eval
use it; `gan_jax.build` turns the config into the engine, data and previews.

    outcome = runs.start(cfg)                  # load the data, build, gan_jax.fit into a run directory
    outcome = runs.resume("runs/x", ["train.steps=40000"])
    engine, state, cfg, step = runs.load_run("runs/x")
    images = runs.sample("runs/x", 10_000)
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from gan_jax import build, pretrained, run, rundir, xla
from gan_jax import config as config_lib
from gan_jax.checkpoint import from_nested, nest_arrays
from gan_jax.conditional import LabelledNoise
from gan_jax.config import Config, ConfigError
from gan_jax.players import main
from gan_jax.recipes import rebuild
from gan_jax import seeds as seeds_lib


EMBEDDED_NOTE = ("note: data.source=auto found no local tfds copy of MNIST, so this run trains on the 4,000 "
                 "embedded training digits; the full-MNIST numbers in the README use all 60,000 (docs/data.md: "
                 "--set data.source=npz data.path=/path/to/mnist.npz, or tfds)")


def _fit(cfg: Config, eng, ds, run_dir: Path, resume: bool, progress: bool,
         asked_source: str = "") -> run.Outcome:
    t = cfg.train
    preview, on_finish = build.hooks(cfg, eng, ds)
    backend = jax.default_backend()
    fuse = build.fuse_of(cfg, backend)
    notes = [n for n in (build.gpu_note(backend, Path("/dev/nvidia0").exists()), build.scan_note(cfg, backend)) if n]
    if t.fuse == 0 and fuse > 1:
        notes.append(f"train.fuse=0: {fuse} iterations per compiled call on {backend} (set train.fuse to choose)")
    if asked_source == "auto" and ds.kind == "embedded":
        notes.insert(0, EMBEDDED_NOTE)
    return run.fit(eng, build.training_data(cfg, ds), run_dir=run_dir, steps=t.steps, key=build.streams(cfg), fuse=fuse,
                   log_interval=t.log_interval, sample_interval=t.sample_interval,
                   checkpoint_interval=t.checkpoint_interval, keep_checkpoints=t.keep_checkpoints,
                   early_stop_window=t.early_stop_window, early_stop_tol=t.early_stop_tol, resume=resume,
                   progress=progress, preview=preview, on_finish=on_finish, config=config_lib.to_dict(cfg),
                   name=f"{cfg.experiment} on {ds.source}", notes=tuple(notes), on_signal="return")


def default_run_dir(experiment: str) -> Path:
    """runs/<experiment>-<date>-<time>.

    Args:
      experiment: the experiment's name.

    Returns:
      A relative path.

    >>> str(default_run_dir("mnist_gan")).startswith("runs/mnist_gan-")
    True
    """
    return Path("runs") / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}"


def start(cfg: Config, run_dir: str | Path | None = None, progress: bool = True) -> run.Outcome:
    """Trains a fresh run of `cfg` into `run_dir` (default runs/<experiment>-<time>).

    Args:
      cfg: the resolved config. run_dir: where. progress: a progress bar on a terminal.

    Returns:
      `gan_jax.run.Outcome`.

    >>> # outcome = start(apply_overrides(experiments.get_config("mnist_gan"), ["train.steps=300"]))
    """
    build.check(cfg)
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.experiment)
    rundir.check_new(run_dir)
    asked = cfg.data.source
    cfg, ds = build.load_data(cfg)
    eng = build.engine(cfg, ds.image_shape, getattr(ds, "target_shape", None))
    build.check_batch(cfg, eng, ds)
    build.check_class_labels(cfg, eng, ds)
    return _fit(cfg, eng, ds, run_dir, resume=False, progress=progress, asked_source=asked)


def load_run_config(run_dir: str | Path) -> Config:
    """The Config recorded in a run directory's config.json.

    Args:
      run_dir: a run directory made by `gan-jax train` (or `start`).

    Returns:
      The Config; RunError when there is none or it is not JSON.

    >>> # cfg = load_run_config("runs/mnist_gan-20261201-120000")
    """
    path = _folder(run_dir) / "config.json"
    if not path.is_file():
        raise run.RunError(f"{run_dir} is not a run directory made from a config (no config.json); a run made "
                           "with gan_jax.fit from Python loads with gan_jax.load_run(run_dir, engine=...), or by "
                           "itself when its engine came from a gan_jax.recipe")
    try:
        return config_lib.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise run.RunError(f"{path} is not valid JSON: {e}") from None
    except ConfigError as e:
        raise run.RunError(f"{path} is not a gan-jax experiment config ({e}): the run was made with gan_jax.fit and "
                           "settings of its own; load it with gan_jax.load_run(run_dir, engine=...), or build its "
                           "engine with a gan_jax.recipe so that the run records it") from None


FIXED_ON_RESUME = ("experiment", "seed", "model.", "ae.", "gan.loss", "gan.pack", "gan.d_update", "gan.ema_decay",
                   "gan.d_ema_decay", "train.seeds", "data.name", "data.labels_per_class", "data.digit", "data.colors",
                   "translate.", "data.pair", "data.resize", "data.channels")
"""Config keys (and prefixes) a resume refuses to change; the rest (rates, steps, intervals, where the data
file is) may change and are recorded in config_changes.jsonl."""


def resume(run_dir: str | Path, overrides: list[str] = (), progress: bool = True) -> run.Outcome:
    """Continues the run in `run_dir` from its newest good checkpoint.

    Args:
      run_dir: the run. overrides: KEY=VALUE strings applied on top of the saved config (a longer
        train.steps, ...). progress: a progress bar on a terminal.

    Returns:
      `gan_jax.run.Outcome`.

    >>> # resume("runs/x", ["train.steps=40000"])
    """
    run_dir = Path(run_dir)
    saved = load_run_config(run_dir)
    cfg = config_lib.apply_overrides(saved, list(overrides))
    before, after = (config_lib.flat(config_lib.to_dict(c)) for c in (saved, cfg))
    fixed = [f"{k} ({before.get(k)} -> {after.get(k)})" for k in sorted(set(before) | set(after))
             if before.get(k) != after.get(k) and k.startswith(FIXED_ON_RESUME)]
    if fixed:
        raise config_lib.ConfigError(
            f"--resume cannot change {', '.join(fixed)}: the saved checkpoints were made with it (the model's "
            f"shape, the game, the seeds or the data); start a new run in another --run-dir instead")
    build.check(cfg)
    cfg, ds = build.load_data(cfg)
    eng = build.engine(cfg, ds.image_shape, getattr(ds, "target_shape", None))
    return _fit(cfg, eng, ds, run_dir, resume=True, progress=progress)


class LoadedRun(NamedTuple):
    """What `load_run` returns."""

    engine: Any
    state: Any
    config: Config | None
    step: int


def _folder(run_dir: str | Path) -> Path:
    """A run directory, or a shipped model's folder for `pretrained:NAME`."""
    try:
        return pretrained.folder(run_dir) if pretrained.is_name(run_dir) else Path(run_dir)
    except pretrained.PretrainedError as e:
        raise run.RunError(str(e)) from None


def _load_pretrained(source: str) -> LoadedRun:
    """A shipped model: its engine, a fresh state holding its trained sampling weights, config, step."""
    folder = _folder(source)
    card = pretrained.card(source)
    cfg = load_run_config(folder)
    eng = build.engine(cfg, *_recorded_shapes(folder))
    weights = folder / "weights.npz"
    if not weights.is_file() or hashlib.sha256(weights.read_bytes()).hexdigest() != card["weights_sha256"]:
        raise run.RunError(f"{weights} is missing or does not match its card's sha256; reinstall gan-jax")
    with np.load(weights, allow_pickle=False) as f:
        nested = nest_arrays({k: f[k].astype(np.float32) if f[k].dtype == np.float16 else f[k] for k in f.files})
    state = eng.init(build.streams(cfg))
    if hasattr(state, "g_params"):  # a GAN: G's sampling weights in g_params; no average beside them
        part = from_nested(nested, {"g_params": state.g_params, "g_rest": state.g_rest})
        state = state.replace(**part, g_ema=None)
    else:
        state = state.replace(**from_nested(nested, {"params": state.params}))
    return LoadedRun(eng, state, cfg, int(card["iterations"]))


def recorded_data(run_dir: str | Path) -> dict:
    """What a run trained on, from its data.json.

    Args:
      run_dir: a run directory.

    Returns:
      {"source": "npz:/.../mnist.npz[train]", "n": 60000, "image_shape": [28, 28, 1], ...}; RunError when
      there is no data.json.

    >>> # recorded_data("runs/x")["source"]  -> 'embedded[train]'
    """
    path = Path(run_dir) / "data.json"
    if not path.is_file():
        raise run.RunError(f"{run_dir} is not a run directory (no data.json)")
    return json.loads(path.read_text())


def _recorded_shapes(run_dir: Path) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """The image shape a run trained on, and a translator's target shape (None for others)."""
    info = recorded_data(run_dir)
    target = info.get("target_shape")
    return tuple(info["image_shape"]), tuple(target) if target else None


def recorded_engine(run_dir: str | Path) -> dict | None:
    """How a run's engine was made, from its engine.json (`gan_jax.recipes.record`).

    Args:
      run_dir: a run directory.

    Returns:
      {"factory": "module:function", "kwargs": {...}} for an engine a recipe built, {"experiment": name} for
      one built from an experiment's config; None for a run without engine.json (older runs, or an engine
      that does not say how it was made).

    >>> recorded_engine("no/such/run") is None
    True
    """
    path = Path(run_dir) / "engine.json"
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise run.RunError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(rec, dict):
        raise run.RunError(f"{path}: expected a JSON object, got {rec!r}")
    return rec


def load_run(run_dir: str | Path, engine=None, trust: bool = False) -> LoadedRun:
    """The engine, the newest good state and the config of a run directory, in one call.

    Args:
      run_dir: a run made by `gan-jax train` (config.json rebuilds the engine, custom models included by
        their import paths), or by `gan_jax.fit` with an engine from a `gan_jax.recipe` (engine.json names
        the function that rebuilds it); or `pretrained:NAME`, a model shipped in the package
        (`gan_jax.pretrained`: its trained G or autoencoder; D and the optimiser states are fresh).
      engine: the engine to restore into (needed for a `fit` run whose engine had no recipe).
      trust: allow importing and calling the code a run's engine.json names (a run directory may come from
        someone else: without it, such a run raises `gan_jax.recipes.UntrustedCode` naming the code).

    Returns:
      LoadedRun(engine, state, config or None, step); config is the experiment's Config for a `gan-jax
      train` run, else None.

    Example:
      >>> import tempfile, numpy as np
      >>> from gan_jax import game, recipes, run
      >>> tiny = recipes.recipe(game._tiny_game)
      >>> folder = tempfile.mkdtemp() + "/run"
      >>> _ = run.fit(tiny(rate=0.2), np.ones((8, 2), np.float32), run_dir=folder, steps=2, progress=False)
      training run (8 samples) into ...
      >>> engine, state, cfg, step = load_run(folder, trust=True)
      >>> step, engine.recipe["kwargs"]
      (2, {'rate': 0.2})
    """
    if pretrained.is_name(run_dir) and engine is None:
        return _load_pretrained(str(run_dir))
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise run.RunError(f"{run_dir} is not a run directory (no such directory); give a run directory, or "
                           "pretrained:NAME")
    rec = recorded_engine(run_dir)
    made_by_code = rec is not None and "factory" in rec  # its config.json, if any, is the user's own settings
    cfg = None
    if engine is None and made_by_code:
        engine = rebuild(rec, trust, str(run_dir))
    elif engine is None:
        cfg = load_run_config(run_dir)
        engine = build.engine(cfg, *_recorded_shapes(run_dir))
    elif not made_by_code and (run_dir / "config.json").is_file():
        try:
            cfg = load_run_config(run_dir)
        except (run.RunError, ConfigError):
            cfg = None
    step, state, checkpoints = rundir.restore(run_dir, engine, build.streams(cfg) if cfg else 0,
                                           cfg.train.keep_checkpoints if cfg else 3, read_only=True)
    checkpoints.close()
    return LoadedRun(engine, state, cfg, step)


def weights_of(loaded: LoadedRun, weights: str) -> str:
    """Which weights `weights` picks in a loaded run: `weights_used` for a run made from a config; a run
    whose engine was built by code samples as its engine's `sample` does ("auto" only).

    Args:
      loaded: `load_run`'s result. weights: "auto", "live" or "ema".

    Returns:
      "live", "ema" or "auto"; RunError for a choice the run does not offer.

    >>> weights_of(LoadedRun(None, None, None, 0), "auto")
    'auto'
    """
    if loaded.config is not None:
        return weights_used(loaded.config, weights)
    if weights != "auto":
        raise run.RunError(f"--weights {weights}: this run's engine was built by code (engine.json), and samples "
                           "as its own `sample` does (a Game: with the moving averages it keeps); use --weights auto")
    return "auto"


def weights_used(cfg: Config, weights: str) -> str:
    """Which of G's weights `weights` picks in a run of `cfg`.

    Args:
      cfg: the run's Config. weights: "auto" (the moving average when the run keeps one, a GAN with
        gan.ema_decay > 0, else the trained weights), "live" or "ema".

    Returns:
      "live" or "ema"; RunError for a bad choice or "ema" without an average.

    >>> from gan_jax.config import Config
    >>> weights_used(Config(), "auto")
    'live'
    """
    has_ema = cfg.model.name not in build.AUTOENCODERS and cfg.gan.ema_decay > 0
    if weights not in build.SAMPLE_WEIGHTS:
        raise run.RunError(f"--weights must be one of {', '.join(build.SAMPLE_WEIGHTS)}, got {weights!r}")
    if weights == "ema" and not has_ema:
        raise run.RunError("this run keeps no moving average of G's weights (gan.ema_decay = 0); use --weights "
                           "live or auto")
    if weights == "auto":
        return "ema" if has_ema else "live"
    return weights


def classes_of(eng) -> int:
    """How many labels a conditional engine takes (0 for an unconditional one).

    Args:
      eng: an engine (or Seeds of one).

    Returns:
      The number of classes of its `LabelledNoise`, else 0.

    >>> classes_of(build.engine(Config(), (28, 28, 1)))
    0
    """
    noise = getattr(seeds_lib.single(eng), "noise_fn", None)
    return noise.classes if isinstance(noise, LabelledNoise) else 0


def sample(run_dir: str | Path, n: int, seed: int = 0, batch: int = 1000, weights: str = "auto",
           seed_index: int | None = None, labels=None, loaded: LoadedRun | None = None,
           trust: bool = False) -> np.ndarray:
    """Samples from the newest good checkpoint of a run.

    Args:
      run_dir: the run. n: how many. seed: the noise seed. batch: per compiled call.
      weights: G's weights as `weights_used` resolves them (BatchNorm's running statistics are the
        trained G's either way).
      seed_index: in a run of several seeds (train.seeds > 1), only this seed's model; None: every seed's.
      labels: a conditional GAN's labels, one per image (n of them); None: drawn uniformly.
      loaded: `load_run(run_dir)` when the caller has it already (it wants the step too); None: loaded here.
      trust: `load_run`'s, when loading here.

    Returns:
      N x H x W x C float32 in [-1, 1] (numpy); for a run of S seeds without `seed_index`,
      S x N x H x W x C (the same noise for every seed).

    >>> # images = sample("runs/x", 10_000)
    """
    if n <= 0:
        raise run.RunError(f"--n must be > 0, got {n}")
    if pretrained.is_name(run_dir) and weights != "auto":
        raise run.RunError("a pretrained model holds one set of G's weights (its card's `weights`); use --weights auto")
    loaded = loaded or load_run(run_dir, trust=trust)
    live = weights_of(loaded, weights) == "live" and not pretrained.is_name(run_dir)
    eng, state, _, _ = loaded
    if seed_index is not None:
        if not seeds_lib.count(eng):
            raise run.RunError(f"--seed-index picks one seed of a run trained with --seeds; {run_dir} has one seed")
        if not 0 <= seed_index < eng.n:
            raise run.RunError(f"--seed-index {seed_index}: {run_dir} has seeds 0 to {eng.n - 1}")
        eng, state = eng.engine, eng.member(state, seed_index)
    if live and hasattr(state, "g_ema"):  # a GAN keeping an average of G
        state = state.replace(g_ema=None)  # GAN.sample uses g_params when no average is kept
    k = classes_of(eng)
    if labels is not None:
        if not k:
            raise run.RunError(f"--label picks the class of a conditional GAN; {run_dir} is unconditional")
        labels = np.asarray(labels)
        if len(labels) != n:
            raise run.RunError(f"{len(labels)} labels for {n} images")
        try:
            seeds_lib.single(eng).noise_fn.for_labels(jax.random.key(0), labels)  # checks the range
        except ValueError as e:
            raise run.RunError(f"--label: {e}") from None
    draw = xla.jit(lambda st, z: main(eng.sample(st, z)))  # the images of (images, labels)
    key = jax.random.key(seed)
    batch = min(batch, n)

    def noise(i: int):
        if labels is None:
            return eng.noise(jax.random.fold_in(key, i), batch)
        part = labels[i * batch:(i + 1) * batch]
        part = np.concatenate([part, np.zeros(batch - len(part), part.dtype)])  # one compiled shape
        return seeds_lib.single(eng).noise_fn.for_labels(jax.random.fold_in(key, i), part)

    out = [np.asarray(draw(state, noise(i))) for i in range(-(-n // batch))]
    images = np.concatenate(out, axis=1)[:, :n] if seeds_lib.count(eng) else np.concatenate(out)[:n]
    if not np.all(np.isfinite(images)):
        bad = int(np.sum(~np.isfinite(images)))
        raise run.RunError(f"{bad} of the {images.size} values sampled from {run_dir} are NaN or infinite: its "
                           "weights are not finite (the run diverged); nothing written")
    return images


__all__ = ["start", "resume", "load_run", "load_run_config", "recorded_data", "recorded_engine", "weights_of",
           "weights_used", "classes_of", "sample", "default_run_dir", "LoadedRun"]
