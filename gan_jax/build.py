"""Config -> engine: the one module that reads a `gan_jax.config.Config` (the CLI and the experiments use it).

    engine = build.engine(cfg, sample_shape)     # a gan_jax.GAN or gan_jax.Autoencoder
    cfg, ds = build.load_data(cfg)              # the data it names (the source really used recorded in cfg)
    preview, on_finish = build.hooks(cfg, eng, ds)   # what its run draws and reports

`gan_jax.runs` starts, resumes and loads runs with it.

Names in a config are either built-ins or import paths of the user's own code:

- `model.name`: mlp, dcgan (GAN players; `gan_jax.models`), ae, vae, conv_ae, linear_ae (autoencoders);
  or `package.module:function` / `path/to/file.py:function`, called as
  `function(sample_shape, z_dim=model.z_dim, **model.kwargs)` (plus `pack=gan.pack` when gan.pack > 1).
  It returns (generator, discriminator) for a GAN, or one model for an autoencoder: factories
  `rngs -> nnx.Module` (a class or a functools.partial of one) or modules.
- `gan.loss`: a name in `gan_jax.losses.BUILT_IN`, or `module:function` naming a loss
  `(real_logits, fake_logits) -> (d_loss, g_loss)` (or a `losses.SplitLoss`).

A module named by import path is imported in every process that opens the run (`gan-jax sample`,
`--resume`, `eval`): a package must be importable there (the current directory is tried too), a file path
must still exist. Engine settings that do not fit (a batch that does not split over the devices, ...) come
back as `ConfigError`s naming the config key.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import jax
import numpy as np
import optax

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import ae_report, domains, losses, mixtures, models, previews, recipes, rundir, semi_supervised, translation
from gan_jax.recipes import resolve
from gan_jax.autoencode import Autoencoder
from gan_jax.config import Config, ConfigError
from gan_jax.gan import GAN, Streams
from gan_jax.models import autoencoder
from gan_jax.sampling import Parts
from gan_jax import seeds as seeds_lib
from gan_jax.seeds import Seeds, config_streams
from gan_jax.conditional import LabelledNoise

GAN_MODELS = ("mlp", "dcgan")
TRANSLATORS = translation.MODES  # model.name cyclegan or pix2pix: two domains, the translate section
AUTOENCODERS = autoencoder.AUTOENCODERS
CONV_MODELS = ("dcgan", "conv_ae")
SAMPLE_WEIGHTS = ("auto", "live", "ema")

# engine keyword -> the config key that sets it (the rest are gan.* or ae.*)
_SETTING_KEYS = {"batch_size": "train.batch_size", "devices": "train.devices", "precision": "train.precision",
                 "sampling": "data.sampling", "z_dim": "model.z_dim"}


def _engine_error(e: Exception, section: str) -> ConfigError:
    """An engine's ValueError ("setting: what") as a ConfigError naming the config key."""
    text = str(e)
    name, _, rest = text.partition(":")
    if rest and name.isidentifier():
        return ConfigError(f"{_SETTING_KEYS.get(name, f'{section}.{name}')}:{rest}")
    return ConfigError(text)


def loss(cfg: Config) -> losses.Loss:
    """The loss `gan.loss` names (built-in or import path), with `gan.label_smoothing` applied.

    Args:
      cfg: a Config.

    Returns:
      A loss function (a `losses.SplitLoss` for the book's family).

    >>> import experiments
    >>> loss(experiments.get_config("mnist_gan")).name
    'non_saturating'
    """
    g = cfg.gan
    fn = losses.BUILT_IN.get(g.loss) or resolve(g.loss, "gan.loss", tuple(losses.BUILT_IN))
    if not callable(fn):
        raise ConfigError(f"gan.loss: {g.loss!r} is not a function (real_logits, fake_logits) -> (d_loss, g_loss)")
    if g.label_smoothing:
        if not isinstance(fn, losses.SplitLoss):
            raise ConfigError(f"gan.label_smoothing: applies to losses with a real target, not {g.loss}")
        try:
            fn = fn.smoothed(g.label_smoothing)
        except ValueError as e:
            raise ConfigError(f"gan.label_smoothing: {e}") from None
    return fn


def _user_model(cfg: Config, sample_shape: tuple[int, ...]):
    m = cfg.model
    builder = resolve(m.name, "model.name", GAN_MODELS + AUTOENCODERS)
    kwargs = dict(m.kwargs)
    if cfg.gan.pack > 1:
        kwargs["pack"] = cfg.gan.pack
    try:
        return builder(tuple(sample_shape), z_dim=m.z_dim, **kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model.name: {m.name}({tuple(sample_shape)}, z_dim={m.z_dim}, **{kwargs}) failed: {e}") from None


def _adam(cfg: Config, player: str, updates_per_iteration: int) -> optax.GradientTransformation:
    """The player's Adam ("g" or "d"; an autoencoder uses g's); with optim.decay=cosine its rate falls to 0
    at train.steps iterations (optax counts updates, so the schedule is stretched by the player's updates
    per iteration)."""
    o = cfg.optim
    lr = getattr(o, f"{player}_lr")
    if o.decay == "cosine":
        lr = optax.cosine_decay_schedule(lr, max(cfg.train.steps, 1) * updates_per_iteration)
    return optax.adam(lr, b1=getattr(o, f"{player}_b1"), b2=getattr(o, f"{player}_b2"))


def _autoencoder(cfg: Config, factory, sample_shape: tuple[int, ...]) -> Autoencoder:
    a, t = cfg.ae, cfg.train
    try:
        eng = Autoencoder(factory, _adam(cfg, "g", 1), z_dim=cfg.model.z_dim, batch_size=t.batch_size,
                          sampling=cfg.data.sampling, precision=t.precision, devices=_devices(t),
                          **_rules(a, config_lib.AERules))
        eng.check_data(sample_shape)
        return eng
    except ValueError as e:
        raise _engine_error(e, "ae") from None


def _rules(section, rules) -> dict:
    """A config section's share of an engine's settings: the fields of `rules` (`config.GANRules`,
    `config.AERules`), which the engine and the config both hold, by the same names."""
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(rules)}


def _gan(cfg: Config, players, noise=None) -> GAN:
    g, t = cfg.gan, cfg.train
    if not (isinstance(players, tuple) and len(players) == 2):
        raise ConfigError(f"model.name: {cfg.model.name} must return (generator, discriminator) or one model")
    fn = loss(cfg)
    if cfg.model.classes and cfg.model.conditioning == "acgan":
        fn = losses.ACGANLoss(fn)  # the auxiliary classifier's cross-entropy beside the game
    d_update = g.d_update if g.d_update != "auto" else ("split" if isinstance(fn, losses.SplitLoss) else "joint")
    d_updates = g.n_critic * (2 if d_update == "split" else 1)
    try:
        return GAN(players[0], players[1], _adam(cfg, "g", 1), _adam(cfg, "d", d_updates), loss=fn,
                   z_dim=cfg.model.z_dim, batch_size=t.batch_size, sampling=cfg.data.sampling, precision=t.precision,
                   devices=_devices(t), noise=noise, **_rules(g, config_lib.GANRules))
    except ValueError as e:
        raise _engine_error(e, "gan") from None


def _devices(t: config_lib.TrainConfig) -> int:
    """The engine's devices: several seeds train together on one."""
    return 1 if t.seeds > 1 else t.devices


def engine(cfg: Config, sample_shape: tuple[int, ...], target_shape: tuple[int, ...] | None = None):
    """The engine `cfg` describes for samples of `sample_shape`.

    Args:
      cfg: a Config (an experiment's, with overrides).
      sample_shape: one sample's shape, e.g. (28, 28, 1); a translator's domain A image.
      target_shape: a translator's domain B image (default: sample_shape).

    Returns:
      A `GAN` (model.name mlp, dcgan, or a builder returning two players), an `Autoencoder` or a translator
      (a `gan_jax.Game`: model.name cyclegan or pix2pix); with train.seeds > 1, `Seeds` of it.

    >>> import experiments
    >>> gan = engine(experiments.get_config("mnist_gan"), (28, 28, 1))
    """
    if cfg.model.name in TRANSLATORS:
        one = _translator(cfg, tuple(sample_shape), tuple(target_shape or sample_shape))
    else:
        one = _engine(cfg, tuple(sample_shape))
    recipes.mark(one, {"experiment": cfg.experiment})  # engine.json: the run's config.json rebuilds it
    if cfg.train.seeds == 1:
        return one
    # a semi-supervised run: every seed its own labelled subset, the unlabelled images shared
    axes = Parts(None, 0) if cfg.data.labels_per_class else None
    seeds = Seeds(one, cfg.train.seeds, data_axes=axes)
    recipes.mark(seeds, {**one.recipe, "seeds": cfg.train.seeds})
    return seeds


def _translator(cfg: Config, shape_a: tuple[int, ...], shape_b: tuple[int, ...]):
    t, o, tr = cfg.translate, cfg.optim, cfg.train
    if tr.seeds > 1:
        raise ConfigError(f"train.seeds={tr.seeds}: a translator trains one seed per run; start a run per seed "
                          "(--set seed=N)")
    if o.decay == "cosine":
        raise ConfigError("optim.decay: a translator's rate is constant or linear (the paper's: constant for half "
                          "the run, then linearly to 0), got cosine")
    common = dict(width=t.width, depth=t.depth, d_width=t.d_width, d_layers=t.d_layers, norm=t.norm, crop=t.crop,
                  flip=t.flip, lr=o.g_lr, d_lr=o.d_lr, b1=o.g_b1, d_b1=o.d_b1, steps=tr.steps, decay=o.decay,
                  batch_size=tr.batch_size, precision=tr.precision, devices=_devices(tr))
    try:
        if cfg.model.name == "pix2pix":
            return translation.pix2pix(shape_a, shape_b, lambda_l1=t.lambda_l1, adversarial=t.adversarial, **common)
        return translation.cyclegan(shape_a, shape_b, generator_kind=t.generator, blocks=t.blocks,
                                    lambda_cycle=t.lambda_cycle, identity=t.identity, pool=t.pool, **common)
    except ValueError as e:
        name, _, rest = str(e).partition(":")
        if name == "image_shape":
            raise ConfigError(f"data.resize:{rest}") from None
        if name in ("batch_size", "devices", "precision"):
            raise _engine_error(e, "translate") from None
        raise ConfigError(f"translate.{e}" if name.isidentifier() else str(e)) from None


def _engine(cfg: Config, shape: tuple[int, ...]) -> GAN | Autoencoder:
    m = cfg.model
    try:
        if m.classes and (m.name not in GAN_MODELS or cfg.gan.pack > 1):
            raise ConfigError(f"model.classes={m.classes}: a conditional GAN needs model.name mlp or dcgan and "
                              f"gan.pack=1 (got {m.name}, pack {cfg.gan.pack})")
        if m.name == "mlp":
            players = functools.partial(models.mlp_players, z_dim=m.z_dim, hidden=m.hidden, layers=m.layers,
                                        d_hidden=m.d_hidden, d_layers=m.d_layers, leak=m.leak, output=m.output,
                                        pack=cfg.gan.pack)
        elif m.name == "dcgan":
            players = functools.partial(models.dcgan_players, z_dim=m.z_dim, leak=m.leak, d_norm=m.d_norm,
                                        pack=cfg.gan.pack)
        elif m.name in AUTOENCODERS:
            if cfg.ae.k > 1 and m.name != "vae":
                raise ConfigError(f"ae.k={cfg.ae.k}: importance-weighted training needs model.name=vae")
            in_shape = (*shape[:-1], 1) if cfg.ae.task == "colorize" else shape
            factory = autoencoder.build(m.name, in_shape, shape, m.z_dim, m.hidden, m.layers, cfg.ae.activation)
            return _autoencoder(cfg, factory, shape)
        else:
            built = _user_model(cfg, shape)
            return _gan(cfg, built) if isinstance(built, tuple) else _autoencoder(cfg, built, shape)
        if m.classes:  # G(z, y), D(x, y) around the same players; (z, y) noise
            pair = models.conditional_players(players, shape, m.classes, m.z_dim, m.conditioning)
            noise = LabelledNoise(m.z_dim, m.classes)
        else:
            pair, noise = players(shape), None
    except ConfigError:
        raise
    except ValueError as e:  # the built-in builders: "setting: what"
        name = str(e).partition(":")[0]
        raise ConfigError(f"{'ae' if name == 'activation' else 'model'}.{e}" if name.isidentifier()
                          else f"model.name={m.name}: {e}") from None
    return _gan(cfg, pair, noise)


def check(cfg: Config) -> None:
    """Checks what a config names (models, losses, activations) before any data is read.

    Args:
      cfg: a Config.

    Returns:
      None; raises ConfigError naming the key when something is unknown or cannot be imported.

    >>> import experiments
    >>> check(experiments.get_config("mnist_dcgan"))
    """
    m = cfg.model
    if m.name in TRANSLATORS:
        paired = cfg.data.pairs or cfg.data.pair == "edges"
        if (m.name == "pix2pix") != paired:
            raise ConfigError(f"model.name={m.name} trains on {'paired' if m.name == 'pix2pix' else 'unpaired'} "
                              f"domains, but data.pair={cfg.data.pair or 'none'} data.pairs={cfg.data.pairs} are "
                              f"{'paired' if paired else 'unpaired'}: pix2pix takes data.pairs=true or "
                              "data.pair=edges; cyclegan takes two folders, cycle_gan/* or data.pair=mnist_m|uci")
        return
    if cfg.data.pair or cfg.data.pairs:
        raise ConfigError(f"data.pair={cfg.data.pair!r} data.pairs={cfg.data.pairs}: two domains are a translator's "
                          f"data (model.name cyclegan or pix2pix), not model.name={m.name}'s")
    if m.name not in GAN_MODELS + AUTOENCODERS:
        resolve(m.name, "model.name", GAN_MODELS + AUTOENCODERS)
    if m.name in GAN_MODELS or m.name not in AUTOENCODERS:
        loss(cfg)
    if cfg.data.labels_per_class and (m.classes or m.name in AUTOENCODERS or cfg.gan.loss in losses.BUILT_IN):
        raise ConfigError(f"data.labels_per_class={cfg.data.labels_per_class}: a labelled subset is the data of "
                          "a semi-supervised GAN: a D with class logits and a loss that reads them (a "
                          "gan_jax.semi_supervised.SemiSupervisedLoss named by gan.loss, as experiments/mnist_sgan.py "
                          f"does), not model.name={m.name}, model.classes={m.classes}, gan.loss={cfg.gan.loss}; "
                          "set it to 0 for this model")
    if cfg.data.labels_per_class and cfg.data.split != "train":
        raise ConfigError("data.split: a semi-supervised run trains on the train split (its D is scored on the "
                          f"test split), got {cfg.data.split!r}")
    if m.output not in models.mlp.OUTPUTS:
        raise ConfigError(f"model.output: got {m.output!r}, expected one of {', '.join(models.mlp.OUTPUTS)}")
    if m.d_norm not in models.dcgan.D_NORMS:
        raise ConfigError(f"model.d_norm: got {m.d_norm!r}, expected one of {', '.join(models.dcgan.D_NORMS)}")
    if cfg.ae.activation not in autoencoder.ACTIVATIONS:
        raise ConfigError(f"ae.activation: got {cfg.ae.activation!r}, expected one of "
                          f"{', '.join(autoencoder.ACTIVATIONS)}")


def streams(cfg: Config) -> Streams:
    """The config's random streams: weights and noise from `seed`, data order from `data.seed` (with
    train.seeds = n > 1, stacked: seed i from seed + i and data.seed + i; `gan_jax.seeds.config_streams`).

    Args:
      cfg: a Config.

    Returns:
      `Streams` for `engine.init`.

    >>> from gan_jax.config import Config
    >>> len(streams(Config()))
    3
    """
    n = cfg.train.seeds
    return config_streams(cfg.seed, cfg.data.seed, n) if n > 1 else Streams.from_seeds(cfg.seed, cfg.data.seed)


def load_data(cfg: Config) -> tuple[Config, data_lib.Dataset]:
    """Loads the config's data.

    Args:
      cfg: a Config.

    Returns:
      (cfg with data.source the source really used, never "auto"; the Dataset).

    >>> # cfg, ds = load_data(experiments.get_config("mnist_gan"))
    """
    ds = domains.load_domains(cfg.data) if cfg.model.name in TRANSLATORS else data_lib.load(cfg.data)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=ds.kind)), ds


def check_batch(cfg: Config, eng, ds: data_lib.Dataset) -> None:
    """Checks that a batch fits the data: with epochs (data.sampling=epoch), a batch needs that many samples.

    Args:
      cfg: the Config. eng: its engine. ds: the loaded data.

    Returns:
      None; ConfigError naming train.batch_size otherwise.

    >>> cfg = Config(data=config_lib.DataConfig(source="embedded"))
    >>> ds = data_lib.load(cfg.data)
    >>> check_batch(cfg, engine(cfg, ds.image_shape), ds)
    """
    per_batch = getattr(eng, "samples_per_batch", cfg.train.batch_size)
    n = min(len(part.labels) for part in (ds.a, ds.b)) if isinstance(ds, domains.Domains) else len(ds.labels)
    if n < per_batch and cfg.data.sampling == "epoch":
        raise ConfigError(
            f"train.batch_size: {per_batch} samples per batch (x gan.pack) is more than the "
            f"{n} images of {ds.source}; epoch sampling needs at least one full batch"
        )


def check_class_labels(cfg: Config, eng, ds: data_lib.Dataset) -> None:
    """A D that classifies K classes (its `classify` gives B x K logits, a semi-supervised GAN): the labelled
    subset's labels must lie in 0 .. K-1, or the loss's one-hot would silently read a label it has no
    logit for.

    Args:
      cfg: the Config. eng: its engine. ds: the loaded data.

    Returns:
      None; ConfigError otherwise.

    >>> cfg = Config(data=config_lib.DataConfig(source="embedded"))
    >>> ds = data_lib.load(cfg.data)
    >>> check_class_labels(cfg, engine(cfg, ds.image_shape), ds)   # no labelled subset: nothing to check
    """

    if not cfg.data.labels_per_class or not semi_supervised.has_classifier(eng):
        return
    gan = seeds_lib.single(eng)
    state = jax.eval_shape(gan.init, jax.random.key(0))
    x = jax.ShapeDtypeStruct((1, *ds.image_shape), np.float32)
    logits = jax.eval_shape(lambda s, x: gan.d.merge(s.d_params, s.d_rest, gan.settings.precision)
                            .classify(x, train=False), state, x)
    k, low, top = logits.shape[-1], int(np.min(ds.labels)), int(np.max(ds.labels))
    if low < 0 or top >= k:
        raise ConfigError(f"data: {ds.source} has labels {low} to {top}, but D (model.name={cfg.model.name}) "
                          f"classifies {k} classes, 0 .. {k - 1}; give D {top + 1} classes (model.kwargs) or keep "
                          f"the labels in 0 .. {k - 1}")


def gpu_note(backend: str, nvidia_device: bool) -> str | None:
    """A warning when an NVIDIA GPU is present but JAX runs on the CPU (the CPU jaxlib was installed).

    Args:
      backend: jax.default_backend(). nvidia_device: whether /dev/nvidia0 exists.

    Returns:
      The note, or None.

    >>> gpu_note("cpu", True).startswith("note: this machine has an NVIDIA GPU")
    True
    """
    if backend != "cpu" or not nvidia_device:
        return None
    return ("note: this machine has an NVIDIA GPU but JAX runs on the CPU; install the GPU build of the same jax: "
            "pip install -e '.[cuda12]' (or '.[cuda13]')")


ACCELERATOR_FUSE = 100  # train.fuse=0 on a GPU or TPU: the host dispatches one call per 100 iterations


def fuse_of(cfg: Config, backend: str | None = None) -> int:
    """The iterations per compiled call a config's run uses: train.fuse, or for train.fuse=0 the backend's
    default: 1 on the CPU (XLA:CPU runs convolution steps far slower inside lax.scan, docs/speed.md) and
    ACCELERATOR_FUSE on a GPU or TPU (where a call per iteration leaves the device waiting for the host).

    Args:
      cfg: a Config. backend: jax.default_backend() when None.

    Returns:
      An int >= 1.

    >>> from gan_jax.config import apply_overrides
    >>> fuse_of(apply_overrides(Config(), ["train.fuse=0"]), "cpu"), fuse_of(apply_overrides(Config(), ["train.fuse=0"]), "gpu")
    (1, 100)
    """
    if cfg.train.fuse:
        return cfg.train.fuse
    return 1 if (backend or jax.default_backend()) == "cpu" else ACCELERATOR_FUSE


def scan_note(cfg: Config, backend: str) -> str | None:
    """A warning for convolutional models fused with lax.scan on XLA:CPU, which runs their steps far slower
    inside a scan (DCGAN: 0.05 it/s at train.fuse=5 vs 3.7 at 1; docs/speed.md).

    Args:
      cfg: a Config. backend: jax.default_backend().

    Returns:
      The note, or None.

    >>> from gan_jax.config import Config
    >>> scan_note(Config(), "cpu") is None   # the MLP GAN has no convolutions
    True
    """
    if backend != "cpu" or fuse_of(cfg, backend) == 1 or cfg.model.name not in CONV_MODELS:
        return None
    return (f"note: train.fuse={cfg.train.fuse} runs {cfg.model.name} steps inside lax.scan, which XLA:CPU runs "
            f"far slower than single steps (docs/speed.md); --set train.fuse=1 is faster here")


def hooks(cfg: Config, eng, ds: data_lib.Dataset):
    """(preview, on_finish) for a config's run: mixture scatters and scores for mixture data; for a D that
    classifies (a semi-supervised GAN) its test accuracy at every sample step and its report at the end;
    the autoencoder's test-set report and figures at the end.

    Args:
      cfg: the Config. eng: its engine. ds: the loaded data.

    Returns:
      (a preview object for `fit`, on_finish(state, run_dir) or None).

    >>> cfg = Config(data=config_lib.DataConfig(source="embedded"))
    >>> ds = data_lib.load(cfg.data)
    >>> preview, on_finish = hooks(cfg, engine(cfg, ds.image_shape), ds)
    >>> type(preview).__name__, on_finish
    ('GridPreview', None)
    """
    if cfg.model.name in TRANSLATORS:
        return _translator_hooks(cfg, eng, ds)
    mixture = mixtures.MIXTURES.get(ds.kind)
    plain_ae = cfg.model.name in AUTOENCODERS and cfg.model.name != "vae"
    caption = "N(0, I) codes decoded; a plain autoencoder has no prior, so not samples" if plain_ae else ""
    preview = (previews.MixturePreview(eng, mixture, cfg.sample_seed) if mixture
               else previews.GridPreview(eng, seed=cfg.sample_seed, caption=caption))
    if not callable(getattr(seeds_lib.single(eng), "reconstruct", None)):  # not an autoencoder

        if not semi_supervised.has_classifier(eng):
            return preview, None
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))  # scored, never trained on
        preview = semi_supervised.ClassifierPreview(eng, test.images, test.labels, cfg.sample_seed)

        def report_classifier(state, run_dir):  # a semi-supervised GAN's result: its D's test accuracy
            report = semi_supervised.classifier_report(cfg, eng, state, test)
            rundir.write_atomic(Path(run_dir) / "classifier.json", json.dumps(report, indent=2) + "\n")
            print(semi_supervised.classifier_line(report) + f" -> {Path(run_dir) / 'classifier.json'}")

        return preview, report_classifier

    def on_finish(state, run_dir):
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))
        (ae_report.finish_seeds if seeds_lib.count(eng) else ae_report.finish)(eng, state, test, run_dir)

    return preview, on_finish


PREVIEW_ROWS = 6  # held-out images per direction in a translator's preview


def test_domains(cfg: Config) -> "domains.Domains":
    """A translator's held-out domains (the test split of its data), cut to the model's input size.

    Args:
      cfg: a translator's Config.

    Returns:
      Domains (centre-cropped to translate.crop when it is set).

    >>> cfg = Config(model=config_lib.ModelConfig(name="cyclegan"), data=config_lib.DataConfig(
    ...     source="embedded", pair="uci", limit=8))
    >>> test_domains(cfg).target_shape
    (28, 28, 1)
    """
    test = domains.load_domains(dataclasses.replace(cfg.data, split="test", limit=0))
    crop = cfg.translate.crop
    if not crop:
        return test

    def centre(ds):
        h, w = ds.images.shape[1:3]
        y, x = (h - crop) // 2, (w - crop) // 2
        return dataclasses.replace(ds, images=ds.images[:, y:y + crop, x:x + crop])

    return dataclasses.replace(test, a=centre(test.a), b=centre(test.b))


def _translator_hooks(cfg: Config, eng, ds):
    """A translator's preview (held-out rows input -> translated -> back) and, for the digit pairs, its
    translation report at the end (`gan_jax.metrics.translation`)."""
    test = test_domains(cfg)
    inputs = {"a": test.a.images[:PREVIEW_ROWS], "b": test.b.images[:PREVIEW_ROWS]}
    preview = previews.FunctionPreview(translation.preview(eng, inputs),
                                       caption="rows: input -> translated -> back; a2b first")
    if not cfg.data.pair:
        return preview, None

    def on_finish(state, run_dir):
        report, lines = results(cfg, eng, state)
        rundir.write_atomic(Path(run_dir) / "translation.json", json.dumps(report["translation"], indent=2) + "\n")
        for line in lines:
            print(line)

    return preview, on_finish


def results(cfg: Config, eng, state) -> tuple[dict, list[str]]:
    """A run's results beyond its samples, for `gan-jax eval`: a D that classifies (a labelled subset's
    run) is scored on the test split of the run's data.

    Args:
      cfg: the run's Config. eng: its engine. state: its state.

    Returns:
      ({name: result} for eval.json, lines to print); empty for a run with nothing more to score.

    >>> results(Config(), engine(Config(), (28, 28, 1)), None)
    ({}, [])
    """
    if cfg.model.name in TRANSLATORS:
        if not cfg.data.pair:
            return {}, []
        from gan_jax.metrics import frozen, translation as translation_metrics

        test = test_domains(cfg)
        train = domains.load_domains(dataclasses.replace(cfg.data, split="train"))
        report = translation_metrics.report(eng, state, test, train, frozen.load(), seed=cfg.seed)
        return {"translation": report}, translation_metrics.lines(report)
    if not semi_supervised.has_classifier(eng):
        return {}, []
    report = semi_supervised.classifier_report(cfg, eng, state)
    return {"d_classifier": report}, [semi_supervised.classifier_line(report)]


def training_data(cfg: Config, ds: data_lib.Dataset):
    """What the engine trains on: the dataset; for a conditional GAN its (images, labels); with
    data.labels_per_class, the images beside a labelled subset (one per seed, from data.seed + i).

    Args:
      cfg: the Config. ds: the loaded data.

    Returns:
      What `fit` takes as data.

    >>> cfg = Config(data=config_lib.DataConfig(source="embedded"))
    >>> ds = data_lib.load(cfg.data)
    >>> training_data(cfg, ds) is ds   # an unconditional GAN trains on the dataset itself
    True
    """
    k, per_class = cfg.model.classes, cfg.data.labels_per_class
    if isinstance(ds, domains.Domains):
        return ds
    if per_class:
        n = cfg.train.seeds
        semi = semi_supervised.SemiSupervised(ds, per_class, cfg.data.seed if n == 1 else
                                       tuple(cfg.data.seed + i for i in range(n)))
        try:
            semi.indices
        except ValueError as e:
            raise ConfigError(f"data.labels_per_class: {ds.source}: {str(e).partition(': ')[2]}") from None
        return semi
    if not k:
        return ds
    if len(ds.labels) and (ds.labels.min() < 0 or ds.labels.max() >= k):
        raise ConfigError(f"model.classes={k}, but {ds.source} has labels {ds.labels.min()} to {ds.labels.max()}; "
                          f"set model.classes to at least {ds.labels.max() + 1}")
    return data_lib.Labelled(ds)


__all__ = ["engine", "results", "check", "check_batch", "check_class_labels",
           "hooks", "training_data", "load_data", "resolve", "loss", "streams", "fuse_of", "gpu_note", "scan_note"]
