"""Typed, frozen experiment configs, `--set key=value` overrides and JSON round-trips.

A config is a tree of frozen dataclasses. Every value is checked when the dataclass is built, so a bad
value fails where it is set, with the dotted key in the message:

    >>> cfg = Config()
    >>> apply_overrides(cfg, ["train.steps=300"]).train.steps
    300
    >>> apply_overrides(cfg, ["train.stepz=3"])
    Traceback (most recent call last):
    ...
    gan_jax.config.ConfigError: unknown config key 'train.stepz'; valid keys in 'train': ...
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key and what would be accepted."""


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def _one_of(value: str, key: str, choices: tuple[str, ...]) -> None:
    _require(value in choices, key, f"got {value!r}, expected one of {', '.join(choices)}")


MAX_SEED = 2**63 - 2**20  # seeds are 64-bit; seed + i for each of up to 2^20 seeds of a run must fit


def _seed(value: int, key: str) -> None:
    _require(0 <= value <= MAX_SEED, key, f"must be an integer in 0..{MAX_SEED}, got {value}")


DATA_SOURCES = ("auto", "embedded", "tfds", "npz", "idx", "folders", "ring8", "grid25", "bimodal1d")
DIGIT_PAIRS = ("", "mnist_m", "uci", "edges")  # data.pair: two domains built offline from the digits
SAMPLING = ("replacement", "epoch")
COLORS = ("none", "by_class")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model (`gan_jax.build` turns it into players or an autoencoder).

    `name` is a built-in: mlp or dcgan (GAN players), ae, vae, conv_ae or linear_ae (autoencoders); or an
    import path of your own builder, `package.module:function` or `path/to/file.py:function`, called as
    `function(sample_shape, z_dim=..., pack=..., **kwargs)` and returning (generator, discriminator)
    factories for a GAN, or one model factory (encode/decode) for an autoencoder (see `gan_jax.build`).
    `kwargs` (a JSON object on the command line: --set 'model.kwargs={"width": 64}') are its own
    hyperparameters, recorded in config.json so another process rebuilds the same model.

    mlp (the defaults are the book's chapter-3 MLPs: one hidden layer of 128 units each, LeakyReLU(0.01),
    a tanh output for G) uses `hidden`, `layers`, `d_hidden`, `d_layers`, `output`. dcgan (the book's
    chapter-4 convolutional players) uses `d_norm`. Both use `z_dim` and `leak`, and with `classes` > 0
    become conditional players G(z, y), D(x, y) (`conditioning`: `gan_jax.models.conditional_players`).
    Autoencoders (ae, vae,
    conv_ae, linear_ae) use `z_dim` as the latent size and `hidden`, `layers` for each side's MLP.
    """

    name: str = "mlp"
    z_dim: int = 100
    hidden: int = 128  # G's hidden width (mlp)
    layers: int = 1  # G's hidden layers (mlp)
    d_hidden: int = 128  # (mlp)
    d_layers: int = 1  # (mlp)
    leak: float = 0.01  # LeakyReLU negative slope (the book's alpha); 0 = ReLU
    output: str = "tanh"  # G's output activation: tanh for images in [-1, 1], linear for mixtures (mlp)
    d_norm: str = "batch"  # dcgan D's normalisation: batch (the book) or none (for gradient penalties)
    kwargs: dict = dataclasses.field(default_factory=dict)  # an imported builder's own keyword arguments
    classes: int = 0  # > 0: a conditional GAN on the data's labels 0 .. classes-1 (mlp, dcgan players)
    conditioning: str = "concat"  # with classes: concat (the book's CGAN), projection, or acgan

    def __post_init__(self):
        _require(bool(self.name), "name", "must name a built-in model or an import path module:function")
        _require(self.classes == 0 or self.classes >= 2, "classes",
                 f"must be 0 (unconditional) or the number of classes (>= 2), got {self.classes}")
        _one_of(self.conditioning, "conditioning", ("concat", "projection", "acgan"))
        for name in ("z_dim", "hidden", "layers", "d_hidden", "d_layers"):
            value = getattr(self, name)
            _require(value > 0, name, f"must be > 0, got {value}")
        _require(0.0 <= self.leak < 1.0, "leak", f"must be in [0, 1), got {self.leak}")
        _require(all(isinstance(k, str) for k in self.kwargs), "kwargs", "keys must be strings")


D_UPDATES = ("auto", "split", "joint")


@dataclasses.dataclass(frozen=True)
class GANRules:
    """The rules of the GAN game, in one place: `gan_jax.GAN` takes them as keyword arguments
    (`gan_jax.gan.GANSettings` extends them) and a config's `gan` section holds them (`GANConfig` extends
    them with the loss's name).

    d_update: auto (split where the loss has separate real and fake terms, else joint), split (the book:
    one optax step of D on the real batch, then one on the fake batch) or joint (one step on the sum).
    n_critic: D's updates per G update, each on fresh batches. gp_weight: WGAN-GP's lambda,
    (|grad D(x_hat)| - 1)^2 at random interpolates of real and fake. r1_weight: R1's gamma,
    gamma / 2 * |grad D(x_real)|^2. ema_decay: keep an exponential moving average of G's weights (0 = off)
    and sample from it; the decay is warmed up, min(ema_decay, (1 + t) / (10 + t)) at step t. d_ema_decay:
    the same for D's weights (a D that classifies is then scored with the average). top_k: top-k training
    (Sinha et al. 2020): G learns only from the fakes D scores highest, a share that starts at 1 and is
    multiplied by top_k_decay every epoch down to top_k (1 = off). pack: PacGAN's packing, D sees `pack`
    samples concatenated.

    >>> GANRules(n_critic=5).n_critic
    5
    """

    pack: int = 1
    d_update: str = "auto"
    n_critic: int = 1
    gp_weight: float = 0.0
    r1_weight: float = 0.0
    ema_decay: float = 0.0
    d_ema_decay: float = 0.0
    top_k: float = 1.0
    top_k_decay: float = 0.99

    def __post_init__(self):
        _one_of(self.d_update, "d_update", D_UPDATES)
        for name in ("pack", "n_critic"):
            value = getattr(self, name)
            _require(isinstance(value, int), name, f"must be an int, got {value!r}")
            _require(value >= 1, name, f"must be >= 1, got {value}")
        for name in ("gp_weight", "r1_weight"):
            value = getattr(self, name)
            _require(value >= 0, name, f"must be >= 0, got {value}")
        for name in ("ema_decay", "d_ema_decay"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, name, f"must be in [0, 1), got {value}")
        _require(0.0 < self.top_k <= 1.0, "top_k", f"must be in (0, 1] (1 = off), got {self.top_k}")
        _require(0.0 < self.top_k_decay <= 1.0, "top_k_decay", f"must be in (0, 1], got {self.top_k_decay}")


@dataclasses.dataclass(frozen=True)
class GANConfig(GANRules):
    """The game (see `gan_jax.losses`): `GANRules` and the loss.

    loss: non_saturating (the book), minimax (the original saturating game), least_squares (LSGAN),
    hinge, wasserstein (WGAN; needs gp_weight > 0 for its Lipschitz constraint), rpgan,
    relativistic_average; or an import path `module:function` of your own loss (see `gan_jax.losses`).
    label_smoothing: one-sided, real target 1 - s (for losses with a real target;
    `gan_jax.losses.SplitLoss.smoothed`).
    """

    loss: str = "non_saturating"
    label_smoothing: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _require(bool(self.loss), "loss", "must name a built-in loss or an import path module:function")
        _require(0.0 <= self.label_smoothing < 1.0, "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        _require(
            self.loss != "wasserstein" or self.gp_weight > 0,
            "gp_weight",
            "loss=wasserstein needs a Lipschitz constraint on D: set gan.gp_weight (WGAN-GP uses 10)",
        )


LIKELIHOODS = ("bernoulli", "gaussian")
AE_TASKS = ("reconstruct", "denoise", "colorize")
NOISES = ("gaussian", "masking", "salt_pepper")


@dataclasses.dataclass(frozen=True)
class AERules:
    """An autoencoder's objective, in one place: `gan_jax.Autoencoder` takes it as keyword arguments
    (`gan_jax.autoencode.AESettings` extends it) and a config's `ae` section holds it (`AEConfig`).

    likelihood: bernoulli (pixels in [0, 1] as probabilities; the decoder outputs logits) or gaussian
    (the decoder outputs the mean, std `sigma`; used for the 2-D mixtures and the linear autoencoder).
    k: importance samples per input in the VAE's training bound, 1 = the ELBO, > 1 = IWAE (Burda et al.).
    binarize: dynamic binarization, each batch's pixels drawn from Bernoulli(intensity) (the IWAE setting).
    task: reconstruct; denoise (the input is corrupted by `noise` at `noise_level`: gaussian std,
    masking drop probability, salt_pepper flip probability; the target is clean); colorize (the input is
    the image's luminance, the target its colours).

    >>> AERules(k=5).k
    5
    """

    likelihood: str = "bernoulli"
    sigma: float = 1.0
    k: int = 1
    binarize: bool = False
    task: str = "reconstruct"
    noise: str = "gaussian"
    noise_level: float = 0.5

    def __post_init__(self):
        _one_of(self.likelihood, "likelihood", LIKELIHOODS)
        _one_of(self.task, "task", AE_TASKS)
        _one_of(self.noise, "noise", NOISES)
        _require(self.sigma > 0, "sigma", f"must be > 0, got {self.sigma}")
        _require(isinstance(self.k, int), "k", f"must be an int, got {self.k!r}")
        _require(self.k >= 1, "k", f"must be >= 1, got {self.k}")
        _require(self.noise_level >= 0, "noise_level", f"must be >= 0, got {self.noise_level}")
        _require(not self.binarize or self.likelihood == "bernoulli", "binarize", "needs likelihood=bernoulli")


@dataclasses.dataclass(frozen=True)
class AEConfig(AERules):
    """Autoencoder runs (model.name = ae, vae, conv_ae or linear_ae; see `gan_jax.autoencode`):
    `AERules` and the built-in models' activation (relu, tanh, leaky_relu)."""

    activation: str = "relu"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the training images come from (see `gan_jax.data`) and how batches are drawn."""

    source: str = "auto"  # auto: a prepared local tfds copy if there is one, else the embedded digits
    name: str = "mnist"  # tfds dataset name (source tfds / auto)
    path: str = ""  # an mnist.npz file (source npz) or a folder of IDX files (source idx)
    data_dir: str = ""  # tfds data_dir; empty = tfds's default (~/tensorflow_datasets)
    split: str = "train"
    download: bool = False  # only with source=tfds: allow tfds to download (never the default)
    limit: int = 0  # use only the first `limit` images after shuffling (0 = all; mixtures: 100,000 draws)
    seed: int = 0  # data-order seed: shuffling and the batches drawn at each step
    sampling: str = "replacement"  # replacement: the book's random batches; epoch: shuffled epochs
    digit: int = -1  # keep only images of this label (one-class training); -1 = all
    colors: str = "none"  # by_class: colour each digit by its label (colored MNIST, H x W x 3)
    # > 0: every image unlabelled beside a stratified subset of this many labels per class, picked by
    # data.seed (`gan_jax.semi_supervised.SemiSupervised`; experiments/mnist_sgan.py uses 10). 0 = off
    labels_per_class: int = 0
    # translation (gan_jax.domains): a second domain built from the digits (mnist_m, uci, edges), pix2pix's
    # paired layouts in a folder, a square side every image is resized to (0 = as stored), 1 or 3 channels
    pair: str = ""
    pairs: bool = False
    resize: int = 0
    channels: int = 0

    def __post_init__(self):
        _one_of(self.source, "source", DATA_SOURCES)
        _one_of(self.pair, "pair", DIGIT_PAIRS)
        _require(self.resize >= 0, "resize", f"must be a side in pixels >= 0 (0 = as stored), got {self.resize}")
        _require(self.channels in (0, 1, 3), "channels", f"must be 0 (as stored), 1 or 3, got {self.channels}")
        _one_of(self.colors, "colors", COLORS)
        _require(self.digit >= -1, "digit", f"must be a label >= 0, or -1 for all, got {self.digit}")
        _one_of(self.sampling, "sampling", SAMPLING)
        _one_of(self.split, "split", ("train", "test"))
        _require(self.limit >= 0, "limit", f"must be >= 0, got {self.limit}")
        _seed(self.seed, "seed")
        _require(self.labels_per_class >= 0, "labels_per_class",
                 f"must be >= 0 (0 = no labelled subset), got {self.labels_per_class}")
        _require(
            self.source not in ("npz", "idx", "folders") or bool(self.path),
            "path",
            f"source={self.source} needs a file or folder: --set data.path=...",
        )
        _require(
            not self.download or self.source == "tfds",
            "download",
            "only applies to source=tfds (the default never downloads)",
        )


@dataclasses.dataclass(frozen=True)
class TranslateConfig:
    """A translator's settings (model.name cyclegan or pix2pix; `gan_jax.translation`): the players' sizes,
    the loss weights, the history pool and the augmentation. Defaults: the CycleGAN paper's at 256x256."""

    generator: str = "resnet"  # cyclegan: resnet (the paper's) or unet (the book's); pix2pix: always unet
    width: int = 64  # G's first layer's features (the book's U-Net: 32)
    blocks: int = 9  # the ResNet G's residual blocks (the paper: 9 at 256 px, 6 at 128 px)
    depth: int = 4  # the U-Net's levels (sides divisible by 2^depth)
    d_width: int = 64  # the PatchGAN's first layer
    d_layers: int = 3  # its stride-2 layers (3: 70x70 patches)
    norm: str = "instance"  # instance or none
    lambda_cycle: float = 10.0
    identity: float = 0.5  # the identity loss as a fraction of lambda_cycle (the book: 0.9; 0 = off)
    pool: int = 50  # earlier fakes each D sees (0 = none, the book)
    lambda_l1: float = 100.0  # pix2pix's L1 weight
    adversarial: bool = True  # pix2pix: false trains G on L1 alone (the paper's baseline)
    crop: int = 0  # random crop to this side while training (the paper: 286 -> 256); 0 = none
    flip: bool = True  # random left-right flips while training

    def __post_init__(self):
        _one_of(self.generator, "generator", ("resnet", "unet"))
        _one_of(self.norm, "norm", ("instance", "none"))
        for name in ("width", "d_width", "d_layers", "depth"):
            _require(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        for name in ("blocks", "pool", "crop", "lambda_cycle", "identity", "lambda_l1"):
            _require(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Adam for each player, with its own rate and betas (the book: Keras defaults, lr 1e-3, constant).

    decay: constant, cosine (from lr down to 0 at train.steps; extending a run later changes it), or linear
    (CycleGAN's: constant for the first half of train.steps, then linearly to 0).
    """

    g_lr: float = 1e-3
    g_b1: float = 0.9
    g_b2: float = 0.999
    d_lr: float = 1e-3
    d_b1: float = 0.9
    d_b2: float = 0.999
    decay: str = "constant"

    def __post_init__(self):
        _one_of(self.decay, "decay", ("constant", "cosine", "linear"))
        for p in ("g", "d"):
            lr = getattr(self, f"{p}_lr")
            _require(lr > 0, f"{p}_lr", f"must be > 0, got {lr}")
            for name in (f"{p}_b1", f"{p}_b2"):
                value = getattr(self, name)
                _require(0.0 <= value < 1.0, name, f"must be in [0, 1), got {value}")

    @classmethod
    def both(cls, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, decay: str = "constant") -> "OptimConfig":
        """The same Adam settings for both players.

        Args:
          lr, b1, b2: Adam's rate and betas. decay: constant or cosine.

        Returns:
          An OptimConfig.

        >>> OptimConfig.both(lr=2e-4, b1=0.5).d_b1
        0.5
        """
        return cls(g_lr=lr, g_b1=b1, g_b2=b2, d_lr=lr, d_b1=b1, d_b2=b2, decay=decay)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The loop: how long, how often to log, sample and checkpoint, and when to stop early."""

    steps: int = 20_000
    batch_size: int = 128
    fuse: int = 1  # iterations per compiled call (lax.scan); 0 = per backend: 1 on the CPU, 100 on a GPU or TPU
    log_interval: int = 100  # metrics.jsonl / TensorBoard rows (means over the interval)
    sample_interval: int = 1_000  # sample grid at the fixed z
    checkpoint_interval: int = 1_000
    keep_checkpoints: int = 3
    early_stop_window: int = 0  # 0 = off; else stop when smoothed losses moved < tol over this many steps
    early_stop_tol: float = 0.02  # relative change of the smoothed D and G losses over the window
    devices: int = 0  # data parallel over this many local devices (0 = all); batches are split across them
    precision: str = "float32"  # compute dtype: float32, or bfloat16 (params and optimizer state stay float32)
    seeds: int = 1  # independent seeds trained together (vmapped, gan_jax.Seeds): seed i uses seed+i, data.seed+i

    def __post_init__(self):
        _require(self.steps >= 0, "steps", f"must be >= 0, got {self.steps}")
        _require(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        _require(self.fuse >= 0, "fuse", f"must be >= 1, or 0 for the backend's default, got {self.fuse}")
        for name in ("log_interval", "sample_interval", "checkpoint_interval", "keep_checkpoints"):
            value = getattr(self, name)
            _require(value > 0, name, f"must be > 0, got {value}")
        _require(self.early_stop_window >= 0, "early_stop_window", f"must be >= 0, got {self.early_stop_window}")
        _require(self.early_stop_tol > 0, "early_stop_tol", f"must be > 0, got {self.early_stop_tol}")
        _require(self.devices >= 0, "devices", f"must be >= 0 (0 = all local devices), got {self.devices}")
        _require(self.seeds >= 1, "seeds", f"must be >= 1, got {self.seeds}")
        _require(self.seeds == 1 or self.devices <= 1, "seeds",
                 f"{self.seeds} seeds train on one device; set train.devices=1 (or 0) instead of {self.devices}")
        _one_of(self.precision, "precision", ("float32", "bfloat16"))
        # steps and intervals need not be multiples of fuse: the call before each interval's step (and the
        # last) runs the remainder (`gan_jax.run.fit`)


@dataclasses.dataclass(frozen=True)
class Config:
    """One experiment. `seed` seeds initialisation and the per-step noise; `sample_seed` the fixed z."""

    experiment: str = "mnist_gan"
    seed: int = 0
    sample_seed: int = 1234
    model: ModelConfig = ModelConfig()
    gan: GANConfig = GANConfig()
    ae: AEConfig = AEConfig()
    translate: TranslateConfig = TranslateConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        for name in ("seed", "sample_seed"):
            _seed(getattr(self, name), name)


def _coerce(text: str, typ: Any, key: str) -> Any:
    """Parses one `--set` value as the field's declared type."""
    try:
        if typ is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            return int(text.replace("_", ""))
        if typ is float:
            value = float(text)
            if not math.isfinite(value):
                raise ConfigError(f"{key}: must be a finite number, got {text!r}")
            return value
        if typ is str:
            return text
        if typ is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except ConfigError:
        raise
    except ValueError:
        what = "JSON object (e.g. '{\"width\": 64}')" if typ is dict else typ.__name__
        raise ConfigError(f"{key}: {text!r} is not a valid {what}") from None
    raise ConfigError(f"{key}: cannot be set from the command line")


def _check_type(value: Any, typ: Any, key: str) -> Any:
    """Checks a value read from JSON or passed in Python against the field's type."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, dict),
    }.get(typ, False)
    if not ok:
        raise ConfigError(f"{key}: expected {typ.__name__}, got {type(value).__name__} {value!r}")
    return float(value) if typ is float else value


def _fields(cls) -> dict[str, Any]:
    hints = {k: (dict if typing.get_origin(v) is dict else v) for k, v in typing.get_type_hints(cls).items()}
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _build(cls, values: dict[str, Any], prefix: str):
    """Builds dataclass `cls` from a (partial) dict, naming any bad key with its dotted path."""
    fields = _fields(cls)
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in fields:
            where = f"'{prefix[:-1]}'" if prefix else "the top level"
            raise ConfigError(f"unknown config key '{key}'; valid keys in {where}: {', '.join(fields)}")
        typ = fields[name]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: is a section; set one of its keys, e.g. {key}.{next(iter(_fields(typ)))}")
            kwargs[name] = _build(typ, value, f"{key}.")
        else:
            kwargs[name] = _check_type(value, typ, key)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e}") from None


def from_dict(values: dict[str, Any], cls=Config):
    """The inverse of `to_dict`: rebuilds and re-validates a config (e.g. a run's config.json).

    Args:
      values: a (partial) dict. cls: the config class.

    Returns:
      The config; ConfigError naming a bad key.

    >>> from_dict({"train": {"steps": 5}}).train.steps
    5
    """
    return _build(cls, values, "")


def to_dict(cfg) -> dict[str, Any]:
    """A config as a plain dict (JSON-able).

    Args:
      cfg: a config dataclass.

    Returns:
      A nested dict.

    >>> to_dict(Config())["train"]["batch_size"]
    128
    """
    return dataclasses.asdict(cfg)


def to_json(cfg) -> str:
    """A config as indented, key-sorted JSON (what config.json holds).

    Args:
      cfg: a config dataclass.

    Returns:
      The text, ending in a newline.

    >>> from_dict(json.loads(to_json(Config()))) == Config()
    True
    """
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n"


def flat(tree: dict, prefix: str = "") -> dict:
    """A nested dict (a config's `to_dict`) as {"dotted.key": value}.

    Args:
      tree: nested dicts. prefix: put before every key.

    Returns:
      One level of dotted keys; an empty dict stays a value.

    >>> flat({"train": {"steps": 3}, "seed": 0})
    {'train.steps': 3, 'seed': 0}
    """
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def apply_overrides(cfg, overrides: list[str]):
    """Applies `key=value` strings (dotted keys) to a config.

    Args:
      cfg: any config dataclass (an experiment's `Config`, the classifier's `ClassifierConfig`).
      overrides: e.g. ["train.steps=300", "gan.loss=hinge"].

    Returns:
      A new, re-validated config; ConfigError naming a bad key or value.

    >>> apply_overrides(Config(), ["train.steps=300"]).train.steps
    300
    """
    values = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. train.steps=300)")
        key, text = item.split("=", 1)
        key = key.strip()
        section, cls = values, type(cfg)
        parts = key.split(".")
        for depth, part in enumerate(parts):
            fields = _fields(cls)
            here = ".".join(parts[:depth])
            if part not in fields:
                where = f"'{here}'" if here else "the top level"
                raise ConfigError(f"unknown config key '{key}'; valid keys in {where}: {', '.join(fields)}")
            typ = fields[part]
            if depth == len(parts) - 1:
                if dataclasses.is_dataclass(typ):
                    raise ConfigError(f"{key}: is a section; set one of its keys, e.g. {key}.{next(iter(_fields(typ)))}")
                section[part] = _coerce(text, typ, key)
            else:
                if not dataclasses.is_dataclass(typ):
                    raise ConfigError(f"unknown config key '{key}': '{'.'.join(parts[:depth + 1])}' is not a section")
                section, cls = section[part], typ
    return from_dict(values, type(cfg))
