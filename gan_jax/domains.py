"""Two image domains for translation: folders of PNG/JPEG files, tfds's `cycle_gan/*`, and three digit pairs
built offline from MNIST and scikit-learn.

    data.source=folders data.path=DIR     DIR/trainA, trainB, testA, testB (CycleGAN's layout); with
                                          data.pairs=true, DIR/train/*.jpg (and test/ or val/) of
                                          side-by-side pairs, input left (pix2pix's layout), or trainA/x
                                          paired with trainB/x by name; a plain DIR of images is one domain
    data.source=tfds data.name=cycle_gan/horse2zebra   its trainA/trainB (testA/testB) splits
    data.pair=mnist_m | uci | edges       A: the MNIST digits the usual source gives (data.source auto,
                                          embedded, npz, idx); B: MNIST-M (the digits blended into the
                                          colour photographs scikit-learn ships, Ganin & Lempitsky 2015),
                                          scikit-learn's 8x8 UCI digits upsampled to 28x28, or (paired) A
                                          is each digit's Sobel edge map and B the digit

Images are read as uint8 (grey or RGB; a folder mixing both is read as RGB; `data.channels` forces 1 or 3),
resized to `data.resize` pixels square when set (bicubic, as the paper) and scaled to [-1, 1]. Anything
malformed is a `DataError` of one line naming the file: a file that is not an image, images of mixed
sizes without data.resize, an empty domain, a pair without its other half.
"""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import numpy as np

from gan_jax import data as data_lib
from gan_jax import image_files
from gan_jax.config import DataConfig
from gan_jax.data import Dataset, load, to_unit_range
from gan_jax.image_files import DataError
from gan_jax.sampling import Unpaired

PAIRS = ("mnist_m", "uci", "edges")
UCI_TEST = 400  # scikit-learn's 1,797 UCI digits: a fixed 1,397 / 400 split


@dataclasses.dataclass(frozen=True)
class Domains:
    """Two domains as one training set: `images` is `Unpaired(a=, b=)` (each drawn on its own) or, for
    paired data, {"a": inputs, "b": targets} (drawn at the same indices).

    Args:
      a, b: the Datasets. paired: whether a[i] and b[i] belong together.
    """

    a: Dataset
    b: Dataset
    paired: bool = False

    @property
    def images(self):
        if self.paired:
            return {"a": self.a.images, "b": self.b.images}
        return Unpaired(a=self.a.images, b=self.b.images)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.a.image_shape

    @property
    def target_shape(self) -> tuple[int, ...]:
        return self.b.image_shape

    @property
    def labels(self) -> np.ndarray:
        return self.a.labels

    @property
    def source(self) -> str:
        return f"{self.a.source} | {self.b.source}"

    @property
    def kind(self) -> str:
        return self.a.kind

    def describe(self) -> dict:
        """data.json's content: both domains.

        Args:
          none.

        Returns:
          {"source", "n", "image_shape" (A's), "target_shape" (B's), "paired", "parts": {"a", "b"}}.

        >>> x = Dataset(np.zeros((2, 4, 4, 1), np.float32), np.zeros(2, np.int32), "x")
        >>> Domains(x, x).describe()["target_shape"]
        [4, 4, 1]
        """
        return {"source": self.source, "n": int(len(self.a.images)), "image_shape": list(self.a.image_shape),
                "target_shape": list(self.b.image_shape), "paired": self.paired,
                "parts": {"a": self.a.describe(), "b": self.b.describe()}}


# -- reading files -------------------------------------------------------------------------------------


def _as_dataset(pixels: np.ndarray, what: str, labels: np.ndarray | None = None) -> Dataset:
    labels = np.zeros(len(pixels), np.int32) if labels is None else labels.astype(np.int32)
    return Dataset(images=to_unit_range(pixels), labels=labels, source=what)


def _split_folder(root: Path, split: str, side: str) -> Path:
    return root / f"{split}{side}"


def _read_pairs(root: Path, split: str, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """pix2pix's pairs: DIR/split/*.jpg side by side (input left), or DIR/splitA/x beside DIR/splitB/x."""
    a_dir, b_dir = _split_folder(root, split, "A"), _split_folder(root, split, "B")
    if a_dir.is_dir() or b_dir.is_dir():
        a_files, b_files = image_files.image_files(a_dir), image_files.image_files(b_dir)
        names_b = {f.stem: f for f in b_files}
        alone = [f for f in a_files if f.stem not in names_b] + sorted(
            set(names_b.values()) - {names_b[f.stem] for f in a_files if f.stem in names_b})
        if alone:
            other = b_dir if alone[0].parent == a_dir else a_dir
            raise DataError(f"{alone[0]}: no image of the same name in {other}; paired folders (data.pairs=true) "
                            "need one file per name on each side")
        b_files = [names_b[f.stem] for f in a_files]
        if cfg.limit:
            a_files, b_files = a_files[: cfg.limit], b_files[: cfg.limit]
        a = image_files.stack([image_files.read_image(f) for f in a_files], a_files, cfg.resize, cfg.channels)
        b = image_files.stack([image_files.read_image(f) for f in b_files], b_files, cfg.resize, cfg.channels)
        return a, b, f"folders:{root}[{split}A|{split}B paired]"
    folder = root / split
    if not folder.is_dir() and split == "test" and (root / "val").is_dir():
        folder = root / "val"
    if not folder.is_dir():
        folder = root if split == "train" else folder
    files = image_files.image_files(folder)[: cfg.limit or None]
    lefts, rights = [], []
    for f in files:
        im = image_files.read_image(f)
        if im.shape[1] % 2:
            raise DataError(f"{f}: {im.shape[0]}x{im.shape[1]} is not two halves side by side (an odd width); a "
                            "pix2pix pair is input | target, each half the same size")
        half = im.shape[1] // 2
        lefts.append(im[:, :half]), rights.append(im[:, half:])
    a = image_files.stack(lefts, files, cfg.resize, cfg.channels)
    b = image_files.stack(rights, files, cfg.resize, cfg.channels)
    return a, b, f"folders:{folder}[pairs]"


def _load_folders(cfg: DataConfig) -> Domains:
    root = Path(cfg.path)
    if not root.is_dir():
        raise DataError(f"data.path {cfg.path!r} is not a folder; data.source=folders reads a folder of images, "
                        "or one holding trainA/, trainB/, testA/, testB/")
    split = cfg.split
    if cfg.pairs:
        a, b, what = _read_pairs(root, split, cfg)
        return Domains(_as_dataset(a, what + " inputs"), _as_dataset(b, what + " targets"), paired=True)
    a_dir, b_dir = _split_folder(root, split, "A"), _split_folder(root, split, "B")
    if not (a_dir.is_dir() or b_dir.is_dir()):
        raise DataError(f"{root}: no {split}A/ and {split}B/ folders (CycleGAN's layout: trainA, trainB, testA, "
                        "testB); a plain folder of images is one domain (a GAN's data), and pix2pix's side-by-side "
                        "pairs need data.pairs=true")
    parts = [_as_dataset(image_files.read_folder(d, cfg.resize, cfg.channels, cfg.limit), f"folders:{d}") for d in (a_dir, b_dir)]
    return Domains(*parts)


# -- tfds cycle_gan/* ----------------------------------------------------------------------------------


def _load_tfds_domains(cfg: DataConfig) -> Domains:
    side = "test" if cfg.split == "test" else "train"
    parts = []
    for d in ("A", "B"):
        split = types.SimpleNamespace(name=cfg.name, data_dir=cfg.data_dir, download=cfg.download, split=side + d)
        items, _, what = data_lib._load_tfds(split)  # the tfds route: prepared copies only, unless download=true
        items = list(items)[: cfg.limit or None]
        files = [Path(f"{what} #{i}") for i in range(len(items))]
        parts.append(_as_dataset(image_files.stack(items, files, cfg.resize, cfg.channels), what))
    return Domains(*parts)


# -- the digit pairs -----------------------------------------------------------------------------------


def photos() -> list[np.ndarray]:
    """The two colour photographs scikit-learn ships (a temple in China, a flower), uint8 427 x 640 x 3.

    Args:
      none.

    Returns:
      The two arrays.

    >>> [p.shape for p in photos()]
    [(427, 640, 3), (427, 640, 3)]
    """
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)


def blend_mnist_m(digits: np.ndarray, seed: int) -> np.ndarray:
    """MNIST-M's blend (Ganin & Lempitsky 2015) with scikit-learn's photographs for BSDS500: for each digit,
    a random window of a random photograph, |window - digit| per channel.

    Args:
      digits: N x H x W (x 1) uint8. seed: picks the photos and windows.

    Returns:
      N x H x W x 3 uint8.

    >>> blend_mnist_m(np.zeros((2, 28, 28), np.uint8), 0).shape
    (2, 28, 28, 3)
    """
    digits = np.asarray(digits, np.uint8).reshape(len(digits), digits.shape[1], digits.shape[2])
    rng = np.random.default_rng(seed)
    pics = photos()
    n, h, w = digits.shape
    which = rng.integers(0, len(pics), n)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        pic = pics[which[i]]
        y, x = rng.integers(0, pic.shape[0] - h + 1), rng.integers(0, pic.shape[1] - w + 1)
        window = pic[y:y + h, x:x + w].astype(np.int16)
        out[i] = np.abs(window - digits[i][..., None].astype(np.int16)).astype(np.uint8)
    return out


def uci_digits(split: str, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's UCI handwritten digits (8x8, values 0..16) as uint8 images upsampled to `size`.

    Args:
      split: "train" (1,397 digits) or "test" (400), a fixed split. size: the side to upsample to (bicubic).

    Returns:
      (N x size x size x 1 uint8, N labels).

    >>> x, y = uci_digits("test")
    >>> x.shape, int(x.max()) <= 255
    ((400, 28, 28, 1), True)
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(1_797).permutation(len(d.target))
    keep = order[:UCI_TEST] if split == "test" else order[UCI_TEST:]
    pixels = np.round(d.images[keep] * (255.0 / 16.0)).astype(np.uint8)
    return np.stack([image_files.resize(p, size) for p in pixels])[..., None], d.target[keep].astype(np.int32)


def sobel_edges(digits: np.ndarray) -> np.ndarray:
    """Each digit's Sobel gradient magnitude, scaled so the strongest edge of the set is 255.

    Args:
      digits: N x H x W (x 1) uint8.

    Returns:
      N x H x W x 1 uint8.

    >>> e = sobel_edges(np.pad(np.full((1, 4, 4), 255, np.uint8), ((0, 0), (2, 2), (2, 2))))
    >>> int(e.max()), int(e[0, 4, 4, 0])   # strongest on the square's border, none inside it
    (255, 0)
    """
    x = np.asarray(digits, np.float32).reshape(len(digits), digits.shape[1], digits.shape[2])
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, 1:-1, :-2] + p[:, 2:, :-2])
    gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, :-2, 1:-1] + p[:, :-2, 2:])
    mag = np.hypot(gx, gy)
    return np.round(mag * (255.0 / max(float(mag.max()), 1e-6))).astype(np.uint8)[..., None]


def _load_digit_pair(cfg: DataConfig) -> Domains:
    mnist = load(dataclasses.replace(cfg, pair="", pairs=False, resize=0, channels=0))
    pixels = np.clip(np.rint((mnist.images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    labels, what = mnist.labels, mnist.source
    if cfg.pair == "edges":
        return Domains(_as_dataset(sobel_edges(pixels), f"{what} as Sobel edges", labels),
                       _as_dataset(pixels, what, labels), paired=True)
    if cfg.pair == "uci":
        x, y = uci_digits(cfg.split, pixels.shape[1])
        return Domains(_as_dataset(pixels, what, labels), _as_dataset(x, f"sklearn UCI digits[{cfg.split}]", y))
    if cfg.split == "train":  # one half of the digits as they are, the other half blended
        half = len(pixels) // 2
        a, b, la, lb = pixels[:half], pixels[half:], labels[:half], labels[half:]
        return Domains(_as_dataset(a, what + " first half", la),
                       _as_dataset(blend_mnist_m(b, cfg.seed + 1), what + " second half as MNIST-M", lb))
    return Domains(_as_dataset(pixels, what, labels),  # the test digits, and the same digits blended
                   _as_dataset(blend_mnist_m(pixels, cfg.seed + 2), what + " as MNIST-M", labels))


def load_domains(cfg: DataConfig) -> Domains:
    """The two domains a DataConfig names (see the module docstring).

    Args:
      cfg: a DataConfig: data.pair, or data.source folders or tfds (cycle_gan/*).

    Returns:
      Domains; DataError naming the file or setting that is wrong.

    >>> d = load_domains(DataConfig(source="embedded", pair="uci", split="test", limit=20))
    >>> d.image_shape, d.target_shape
    ((28, 28, 1), (28, 28, 1))
    """
    if cfg.pair:
        if cfg.pair not in PAIRS:
            raise DataError(f"data.pair: got {cfg.pair!r}, expected one of {', '.join(PAIRS)}")
        return _load_digit_pair(cfg)
    if cfg.source == "folders":
        return _load_folders(cfg)
    if cfg.source == "tfds" and cfg.name.startswith("cycle_gan"):
        return _load_tfds_domains(cfg)
    raise DataError(f"a translator needs two domains: data.source=folders data.path=DIR (trainA/, trainB/, ...), "
                    f"data.source=tfds data.name=cycle_gan/NAME, or data.pair={'|'.join(PAIRS)}; got "
                    f"data.source={cfg.source} data.name={cfg.name}")


__all__ = ["Domains", "load_domains", "blend_mnist_m", "uci_digits", "sobel_edges", "photos"]
