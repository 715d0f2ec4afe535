"""Config -> engine: the one module that reads a `gan_jax.config.Config` (the CLI and the experiments use it).

    engine = build.engine(cfg, sample_shape)     # a gan_jax.GAN or gan_jax.Autoencoder
    outcome = build.start(cfg)                   # load the data, build, gan_jax.fit into a run directory
    run = build.load_run("runs/x")               # (engine, newest good state, config, step)

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
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import ae_report, losses, mixtures, models, pretrained, run, xla
from gan_jax.checkpoint import from_nested, nest_arrays
from gan_jax.autoencode import Autoencoder
from gan_jax.config import Config, ConfigError
from gan_jax import gan as gan_lib
from gan_jax.gan import GAN, Streams
from gan_jax.models import autoencoder
from gan_jax.sampling import Parts
from gan_jax.seeds import Seeds, config_streams
from gan_jax.conditional import LabelledNoise

GAN_MODELS = ("mlp", "dcgan")
AUTOENCODERS = autoencoder.AUTOENCODERS
CONV_MODELS = ("dcgan", "conv_ae")
SAMPLE_WEIGHTS = ("auto", "live", "ema")

# engine keyword -> the config key that sets it (the rest are gan.* or ae.*)
_SETTING_KEYS = {"batch_size": "train.batch_size", "devices": "train.devices", "precision": "train.precision",
                 "sampling": "data.sampling", "z_dim": "model.z_dim"}


def resolve(path: str, key: str, builtins: tuple[str, ...] = ()) -> Any:
    """The object an import path names: `package.module:attr` or `path/to/file.py:attr`.

    Args:
      path: the import path.
      key: the config key it came from (for error messages).
      builtins: the built-in names also accepted at `key` (for the message when `path` is neither).

    Returns:
      The attribute.

    >>> resolve("gan_jax.losses:hinge", "gan.loss").name
    'hinge'
    """
    choices = f"one of {', '.join(builtins)}, or " if builtins else ""
    if ":" not in path:
        raise ConfigError(f"{key}: got {path!r}, expected {choices}an import path module:function "
                          "(e.g. mypkg.nets:build or my_experiment.py:build)")
    module_name, attr = path.rsplit(":", 1)
    try:
        if module_name.endswith(".py"):
            file = Path(module_name).expanduser()
            if not file.is_file():
                raise ConfigError(f"{key}: {path!r}: no file {file}")
            name = f"_gan_jax_user_{abs(hash(str(file.resolve())))}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, file)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
        else:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                if os.getcwd() in sys.path:
                    raise
                sys.path.insert(0, os.getcwd())
                module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as e:  # the user's module failed to import
        raise ConfigError(f"{key}: cannot import {module_name!r} ({type(e).__name__}: {e}); is it on the Python "
                          "path (or run from its folder)?") from None
    if not hasattr(module, attr):
        raise ConfigError(f"{key}: {module_name!r} has no {attr!r}")
    return getattr(module, attr)


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
                          sampling=cfg.data.sampling, likelihood=a.likelihood, sigma=a.sigma, k=a.k,
                          binarize=a.binarize, task=a.task, noise=a.noise, noise_level=a.noise_level,
                          precision=t.precision, devices=_devices(t))
        eng.check_data(sample_shape)
        return eng
    except ValueError as e:
        raise _engine_error(e, "ae") from None


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
                   z_dim=cfg.model.z_dim, batch_size=t.batch_size, sampling=cfg.data.sampling, d_update=d_update,
                   n_critic=g.n_critic, r1_weight=g.r1_weight, gp_weight=g.gp_weight, ema_decay=g.ema_decay,
                   d_ema_decay=g.d_ema_decay, top_k=g.top_k, top_k_decay=g.top_k_decay, pack=g.pack, precision=t.precision, devices=_devices(t),
                   noise=noise)
    except ValueError as e:
        raise _engine_error(e, "gan") from None


def _devices(t: config_lib.TrainConfig) -> int:
    """The engine's devices: several seeds train together on one."""
    return 1 if t.seeds > 1 else t.devices


def engine(cfg: Config, sample_shape: tuple[int, ...]) -> GAN | Autoencoder | Seeds:
    """The engine `cfg` describes for samples of `sample_shape`.

    Args:
      cfg: a Config (an experiment's, with overrides).
      sample_shape: one sample's shape, e.g. (28, 28, 1).

    Returns:
      A `GAN` (model.name mlp, dcgan, or a builder returning two players) or an `Autoencoder`; with
      train.seeds > 1, `Seeds` of it.

    >>> import experiments
    >>> gan = engine(experiments.get_config("mnist_gan"), (28, 28, 1))
    """
    one = _engine(cfg, tuple(sample_shape))
    if cfg.train.seeds == 1:
        return one
    # a semi-supervised run: every seed its own labelled subset, the unlabelled images shared
    axes = Parts(None, 0) if cfg.data.labels_per_class else None
    return Seeds(one, cfg.train.seeds, data_axes=axes)


def single(eng):
    """The engine one seed runs: `eng` itself, or the engine a `Seeds` wraps.

    Args:
      eng: an engine.

    Returns:
      A GAN, Autoencoder or a user's engine.

    >>> single(Seeds(engine(Config(), (28, 28, 1)), 2)).__class__.__name__
    'GAN'
    """
    return eng.engine if isinstance(eng, Seeds) else eng


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


make_engine = engine  # load_run's keyword `engine` shadows the function's name there


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
    if m.name not in GAN_MODELS + AUTOENCODERS:
        resolve(m.name, "model.name", GAN_MODELS + AUTOENCODERS)
    if m.name in GAN_MODELS or m.name not in AUTOENCODERS:
        loss(cfg)
    if cfg.data.labels_per_class and (m.classes or m.name in AUTOENCODERS or cfg.gan.loss in losses.BUILT_IN):
        raise ConfigError(f"data.labels_per_class={cfg.data.labels_per_class}: a labelled subset is the data of "
                          "a semi-supervised GAN: a D with class logits and a loss that reads them (a "
                          "gan_jax.losses.SemiSupervisedLoss named by gan.loss, as experiments/mnist_sgan.py "
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
    ds = data_lib.load(cfg.data)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=ds.kind)), ds


def _check_batch(cfg: Config, eng, ds: data_lib.Dataset) -> None:
    per_batch = getattr(eng, "samples_per_batch", cfg.train.batch_size)
    if ds.images.shape[0] < per_batch and cfg.data.sampling == "epoch":
        raise ConfigError(
            f"train.batch_size: {per_batch} samples per batch (x gan.pack) is more than the "
            f"{ds.images.shape[0]} images of {ds.source}; epoch sampling needs at least one full batch"
        )


def _check_class_labels(cfg: Config, eng, ds: data_lib.Dataset) -> None:
    """A semi-supervised D classifies K classes (its `classify` gives B x K logits): the labelled subset's
    labels must lie in 0 .. K-1, or the loss's one-hot would silently read a label it has no logit for."""
    from gan_jax import metrics

    if not cfg.data.labels_per_class or not metrics.has_classifier(eng):
        return
    gan = single(eng)
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


def _hooks(cfg: Config, eng, ds: data_lib.Dataset):
    """(preview, on_finish) for a config's run: mixture scatters and scores for mixture data; for a D
    that classifies (a semi-supervised GAN) its test accuracy at every sample step and its report at the
    end; the autoencoder's test-set report and figures at the end."""
    mixture = mixtures.MIXTURES.get(ds.kind)
    plain_ae = cfg.model.name in AUTOENCODERS and cfg.model.name != "vae"
    caption = "N(0, I) codes decoded; a plain autoencoder has no prior, so not samples" if plain_ae else ""
    preview = (run.MixturePreview(eng, mixture, cfg.sample_seed) if mixture
               else run.GridPreview(eng, seed=cfg.sample_seed, caption=caption))
    if not isinstance(single(eng), Autoencoder):
        from gan_jax import metrics

        if not metrics.has_classifier(eng):
            return preview, None
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))  # scored, never trained on
        preview = run.ClassifierPreview(eng, test.images, test.labels, cfg.sample_seed)

        def report_classifier(state, run_dir):  # a semi-supervised GAN's result: its D's test accuracy
            report = classifier_report(cfg, eng, state, test)
            run.write_atomic(Path(run_dir) / "classifier.json", json.dumps(report, indent=2) + "\n")
            print(classifier_line(report) + f" -> {Path(run_dir) / 'classifier.json'}")

        return preview, report_classifier

    def on_finish(state, run_dir):
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))
        if isinstance(eng, Seeds):
            ae_report.finish_seeds(eng, state, test, run_dir)
        else:
            ae_report.finish(eng, state, test, run_dir)

    return preview, on_finish


def classifier_report(cfg: Config, eng, state, test: data_lib.Dataset | None = None) -> dict | None:
    """The test accuracy of a run's D as a classifier (a semi-supervised GAN's result), on the test split
    of the run's data; None when its D has no `classify` (`gan_jax.metrics.has_classifier`).

    Args:
      cfg: the run's Config (its data section names the test data). eng: its engine. state: its state.
      test: the test split if already loaded (else loaded from cfg.data).

    Returns:
      {"test_accuracy", "test_accuracy_se" (0 for one seed), "test_accuracy_per_seed" (a run of seeds),
      "test_images", "test_source", "labels" (labelled training images per seed, 0 = all), "weights"
      ("ema" when the run keeps a moving average of D, gan.d_ema_decay > 0, and the accuracy is its;
      the trained weights' then beside it as "live_test_accuracy", "live_test_accuracy_se" and
      "live_test_accuracy_per_seed"; else "live")}, or None.

    >>> # classifier_report(cfg, eng, state)["test_accuracy"]
    """
    from gan_jax import metrics

    if not metrics.has_classifier(eng):
        return None
    if test is None:
        test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=0))
    k = len(np.unique(test.labels))
    return {"test_images": len(test.labels), "test_source": test.source, "labels": cfg.data.labels_per_class * k,
            **metrics.classifier_scores(eng, state, test.images, test.labels)}


def classifier_line(report: dict) -> str:
    """One printed line for `classifier_report`'s result.

    Args:
      report: its dict.

    Returns:
      "D's classifier: test accuracy 98.50% +- 0.10 over 5 label subsets (100 labels) on 10000 images of ...".

    >>> classifier_line({"test_accuracy": 0.985, "test_accuracy_se": 0.0, "test_images": 10, "test_source": "x",
    ...                  "labels": 100})
    "D's classifier: test accuracy 98.50% (100 labels) on 10 test images of x"
    """
    seeds = report.get("test_accuracy_per_seed")

    def acc(prefix: str) -> str:
        spread = f" +- {100 * report[prefix + 'test_accuracy_se']:.2f}" if seeds else ""
        return f"{100 * report[prefix + 'test_accuracy']:.2f}%{spread}"

    over = f" over {len(seeds)} label subsets" if seeds else ""
    labels = f"{report['labels']} labels" if report["labels"] else "all labels"
    averaged = (f" with D's moving average (the trained weights: {acc('live_')})"
                if report.get("weights") == "ema" else "")
    return (f"D's classifier: test accuracy {acc('')}{over}{averaged} ({labels}) on "
            f"{report['test_images']} test images of {report['test_source']}")


def _training_data(cfg: Config, ds: data_lib.Dataset):
    """What the engine trains on: the dataset; for a conditional GAN its (images, labels); with
    data.labels_per_class, the images beside a labelled subset (one per seed, from data.seed + i)."""
    k, per_class = cfg.model.classes, cfg.data.labels_per_class
    if per_class:
        n = cfg.train.seeds
        semi = data_lib.SemiSupervised(ds, per_class, cfg.data.seed if n == 1 else
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


EMBEDDED_NOTE = ("note: data.source=auto found no local tfds copy of MNIST, so this run trains on the 4,000 "
                 "embedded training digits; the full-MNIST numbers in the README use all 60,000 (README 'Data': "
                 "--set data.source=npz data.path=/path/to/mnist.npz, or tfds)")


def _fit(cfg: Config, eng, ds: data_lib.Dataset, run_dir: Path, resume: bool, progress: bool,
         asked_source: str = "") -> run.Outcome:
    t = cfg.train
    preview, on_finish = _hooks(cfg, eng, ds)
    backend = jax.default_backend()
    fuse = fuse_of(cfg, backend)
    notes = [n for n in (gpu_note(backend, Path("/dev/nvidia0").exists()), scan_note(cfg, backend)) if n]
    if t.fuse == 0 and fuse > 1:
        notes.append(f"train.fuse=0: {fuse} iterations per compiled call on {backend} (set train.fuse to choose)")
    if asked_source == "auto" and ds.kind == "embedded":
        notes.insert(0, EMBEDDED_NOTE)
    return run.fit(eng, _training_data(cfg, ds), run_dir=run_dir, steps=t.steps, key=streams(cfg), fuse=fuse,
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
    check(cfg)
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.experiment)
    run._check_new_run_dir(run_dir)
    asked = cfg.data.source
    cfg, ds = load_data(cfg)
    eng = engine(cfg, ds.image_shape)
    _check_batch(cfg, eng, ds)
    _check_class_labels(cfg, eng, ds)
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
                           "with gan_jax.fit from Python loads with gan_jax.load_run(run_dir, engine=...)")
    try:
        return config_lib.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise run.RunError(f"{path} is not valid JSON: {e}") from None


FIXED_ON_RESUME = ("experiment", "seed", "model.", "ae.", "gan.loss", "gan.pack", "gan.d_update", "gan.ema_decay",
                   "gan.d_ema_decay", "train.seeds", "data.name", "data.labels_per_class", "data.digit", "data.colors")
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
    check(cfg)
    cfg, ds = load_data(cfg)
    eng = engine(cfg, ds.image_shape)
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
    eng = make_engine(cfg, _recorded_shape(folder))
    weights = folder / "weights.npz"
    if not weights.is_file() or hashlib.sha256(weights.read_bytes()).hexdigest() != card["weights_sha256"]:
        raise run.RunError(f"{weights} is missing or does not match its card's sha256; reinstall gan-jax")
    with np.load(weights, allow_pickle=False) as f:
        nested = nest_arrays({k: f[k].astype(np.float32) if f[k].dtype == np.float16 else f[k] for k in f.files})
    state = eng.init(streams(cfg))
    if isinstance(eng, GAN):  # G's sampling weights in g_params; no average beside them
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


def _recorded_shape(run_dir: Path) -> tuple[int, ...]:
    return tuple(recorded_data(run_dir)["image_shape"])


def load_run(run_dir: str | Path, engine=None) -> LoadedRun:
    """The engine, the newest good state and the config of a run directory, in one call.

    Args:
      run_dir: a run made by `gan-jax train` (config.json rebuilds the engine, custom models included by
        their import paths) or by `gan_jax.fit`; or `pretrained:NAME`, a model shipped in the package
        (`gan_jax.pretrained`: its trained G or autoencoder; D and the optimiser states are fresh).
      engine: the engine to restore into (needed for a `fit` run made without a config).

    Returns:
      LoadedRun(engine, state, config or None, step).

    Example:
      >>> # gan, state, cfg, step = gj.load_run("runs/mnist_gan-20261201-120000")
      >>> # images = gan.sample(state, gan.noise(jax.random.key(0), 64))
    """
    if pretrained.is_name(run_dir) and engine is None:
        return _load_pretrained(str(run_dir))
    run_dir = Path(run_dir)
    cfg = None
    if engine is None:
        cfg = load_run_config(run_dir)
        engine = make_engine(cfg, _recorded_shape(run_dir))
    elif (run_dir / "config.json").is_file():
        try:
            cfg = load_run_config(run_dir)
        except (run.RunError, ConfigError):
            cfg = None
    step, state, checkpoints = run.restore(run_dir, engine, streams(cfg) if cfg else 0,
                                           cfg.train.keep_checkpoints if cfg else 3, read_only=True)
    checkpoints.close()
    return LoadedRun(engine, state, cfg, step)


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
    has_ema = cfg.model.name not in AUTOENCODERS and cfg.gan.ema_decay > 0
    if weights not in SAMPLE_WEIGHTS:
        raise run.RunError(f"--weights must be one of {', '.join(SAMPLE_WEIGHTS)}, got {weights!r}")
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

    >>> classes_of(engine(Config(), (28, 28, 1)))
    0
    """
    noise = getattr(single(eng), "noise_fn", None)
    return noise.classes if isinstance(noise, LabelledNoise) else 0


def sample(run_dir: str | Path, n: int, seed: int = 0, batch: int = 1000, weights: str = "auto",
           seed_index: int | None = None, labels=None, loaded: LoadedRun | None = None) -> np.ndarray:
    """Samples from the newest good checkpoint of a run.

    Args:
      run_dir: the run. n: how many. seed: the noise seed. batch: per compiled call.
      weights: G's weights as `weights_used` resolves them (BatchNorm's running statistics are the
        trained G's either way).
      seed_index: in a run of several seeds (train.seeds > 1), only this seed's model; None: every seed's.
      labels: a conditional GAN's labels, one per image (n of them); None: drawn uniformly.
      loaded: `load_run(run_dir)` when the caller has it already (it wants the step too); None: loaded here.

    Returns:
      N x H x W x C float32 in [-1, 1] (numpy); for a run of S seeds without `seed_index`,
      S x N x H x W x C (the same noise for every seed).

    >>> # images = sample("runs/x", 10_000)
    """
    if n <= 0:
        raise run.RunError(f"--n must be > 0, got {n}")
    if pretrained.is_name(run_dir) and weights != "auto":
        raise run.RunError("a pretrained model holds one set of G's weights (its card's `weights`); use --weights auto")
    live = weights_used(load_run_config(run_dir), weights) == "live" and not pretrained.is_name(run_dir)
    eng, state, _, _ = loaded or load_run(run_dir)
    if seed_index is not None:
        if not isinstance(eng, Seeds):
            raise run.RunError(f"--seed-index picks one seed of a run trained with --seeds; {run_dir} has one seed")
        if not 0 <= seed_index < eng.n:
            raise run.RunError(f"--seed-index {seed_index}: {run_dir} has seeds 0 to {eng.n - 1}")
        eng, state = eng.engine, eng.member(state, seed_index)
    if live and isinstance(single(eng), GAN):
        state = state.replace(g_ema=None)  # GAN.sample uses g_params when no average is kept
    k = classes_of(eng)
    if labels is not None:
        if not k:
            raise run.RunError(f"--label picks the class of a conditional GAN; {run_dir} is unconditional")
        labels = np.asarray(labels)
        if len(labels) != n:
            raise run.RunError(f"{len(labels)} labels for {n} images")
        try:
            single(eng).noise_fn.for_labels(jax.random.key(0), labels)  # checks the range
        except ValueError as e:
            raise run.RunError(f"--label: {e}") from None
    draw = xla.jit(lambda st, z: gan_lib.main(eng.sample(st, z)))  # the images of (images, labels)
    key = jax.random.key(seed)
    batch = min(batch, n)

    def noise(i: int):
        if labels is None:
            return eng.noise(jax.random.fold_in(key, i), batch)
        part = labels[i * batch:(i + 1) * batch]
        part = np.concatenate([part, np.zeros(batch - len(part), part.dtype)])  # one compiled shape
        return single(eng).noise_fn.for_labels(jax.random.fold_in(key, i), part)

    out = [np.asarray(draw(state, noise(i))) for i in range(-(-n // batch))]
    images = np.concatenate(out, axis=1)[:, :n] if isinstance(eng, Seeds) else np.concatenate(out)[:n]
    if not np.all(np.isfinite(images)):
        bad = int(np.sum(~np.isfinite(images)))
        raise run.RunError(f"{bad} of the {images.size} values sampled from {run_dir} are NaN or infinite: its "
                           "weights are not finite (the run diverged); nothing written")
    return images


__all__ = ["engine", "single", "classes_of", "classifier_report", "classifier_line", "check", "start", "resume", "load_run", "load_run_config", "sample", "weights_used", "resolve",
           "loss", "streams", "LoadedRun"]
