"""Translating files with a trained translator (what `gan-jax translate` runs): read a folder of images, one
image or a .npy; fit them to the translator's input (resized, made grey or colour); write the outputs.

    gan-jax translate RUN --in photos/ --out zebras/             # one PNG per input, same names
    gan-jax translate RUN --in horse.jpg --out zebra.png
    gan-jax translate RUN --in digits.npy --out grid.png --direction b2a   # rows: input -> translated -> back
    gan-jax translate RUN --in digits.npy --out translated.npy   # N x H x W x C in [-1, 1]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gan_jax import image_files, translation, viz
from gan_jax.data import to_unit_range
from gan_jax.image_files import DataError

BACK = {"a2b": "b2a", "b2a": "a2b"}


def read_inputs(path: str | Path) -> tuple[np.ndarray | list[np.ndarray], list[str]]:
    """What `--in` names: a .npy of N x H x W x C in [-1, 1], one image file, or a folder of them.

    Args:
      path: the input.

    Returns:
      (a float array in [-1, 1], or a list of uint8 images; their names, for the outputs).

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(f, np.zeros((2, 4, 4, 1), np.float32))
    >>> read_inputs(f)[1]
    ['x_0', 'x_1']
    """
    path = Path(path)
    if path.is_dir():
        files = image_files.image_files(path)
        return [image_files.read_image(f) for f in files], [f.stem for f in files]
    if not path.is_file():
        raise DataError(f"--in {path}: no such file or folder")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DataError(f"--in {path}: not a readable .npy ({e})") from None
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating) or x.min() < -1.0 - 1e-6 or x.max() > 1.0 + 1e-6:
            raise DataError(f"--in {path}: a .npy must hold N x H x W x C floats in [-1, 1] (as gan-jax sample "
                            f"writes), got {x.dtype} of shape {x.shape}")
        return np.asarray(x, np.float32), [f"{path.stem}_{i}" for i in range(len(x))]
    if path.suffix.lower() not in image_files.IMAGE_SUFFIXES:
        raise DataError(f"--in {path}: expected a folder, a .png/.jpg image or a .npy")
    return [image_files.read_image(path)], [path.stem]


def fit_to(images, shape: tuple[int, ...]) -> np.ndarray:
    """Images as a translator's input: resized to its H x W (bicubic), made grey or colour, in [-1, 1].

    Args:
      images: a float array N x H x W x C in [-1, 1], or a list of uint8 images (H x W or H x W x 3).
      shape: the input's (H, W, C).

    Returns:
      N x H x W x C float32.

    >>> fit_to([np.zeros((10, 12, 3), np.uint8)], (8, 8, 1)).shape
    (1, 8, 8, 1)
    """
    from PIL import Image

    h, w, c = shape
    if isinstance(images, np.ndarray):
        images = [np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8) for x in images]
    sized = []
    for im in images:
        im = im[..., 0] if im.ndim == 3 and im.shape[-1] == 1 else im
        if im.shape[:2] != (h, w):
            im = np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BICUBIC))
        sized.append(im)
    return to_unit_range(image_files.stack(sized, [Path(f"#{i}") for i in range(len(sized))], channels=c))


def _png(x: np.ndarray, path: Path) -> None:
    from PIL import Image

    pixels = np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    tmp = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(tmp)
    os.replace(tmp, path)


def translate(game, state, source: str | Path, out: str | Path, direction: str = "a2b", title: str = "") -> str:
    """Translates what `source` holds and writes it to `out` (see the module docstring).

    Args:
      game, state: a translator and its state. source: --in. out: --out (a folder, a .png or a .npy).
      direction: "a2b" or "b2a". title: a grid's title.

    Returns:
      A line saying what was written; DataError for bad inputs or outputs (nothing is written then).

    >>> import tempfile
    >>> from gan_jax import translation
    >>> g = translation.pix2pix((16, 16, 1), (16, 16, 1), width=2, depth=1, adversarial=False)
    >>> d = Path(tempfile.mkdtemp())
    >>> np.save(d / "x.npy", np.zeros((2, 16, 16, 1), np.float32))
    >>> translate(g, g.init(0), d / "x.npy", d / "y.npy")
    'translated 2 images a2b (16 x 16 x 1 -> 16 x 16 x 1) into ...y.npy'
    """
    if direction not in game.transforms:
        raise DataError(f"--direction {direction}: this translator has {', '.join(game.transforms)}")
    source, out = Path(source), Path(out)
    folder_out = out.suffix == "" or out.is_dir()
    if not folder_out and out.suffix not in (".png", ".npy"):
        raise DataError(f"--out {out}: give a folder (one PNG per input), a .png or a .npy")
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist")
    images, names = read_inputs(source)
    shape = game.transforms[direction].shape
    x = fit_to(images, shape)
    if folder_out:
        clash = [n for n in names if (out / f"{n}.png").exists()]
        if clash:
            raise DataError(f"--out {out}: {out / (clash[0] + '.png')} exists; choose an empty folder")
    y = translation.translate_all(game, state, direction, x)
    dims = " x ".join(map(str, y.shape[1:]))
    what = f"{len(x)} image{'s' if len(x) > 1 else ''} {direction} ({' x '.join(map(str, shape))} -> {dims})"
    if folder_out:
        out.mkdir(exist_ok=True)
        for name, image in zip(names, y):
            _png(image, out / f"{name}.png")
        return f"translated {what} into {out}/ (one PNG each)"
    if out.suffix == ".npy":
        tmp = out.with_name(f".{out.name}.tmp.npy")
        np.save(tmp, y.astype(np.float32), allow_pickle=False)
        os.replace(tmp, out)
        return f"translated {what} into {out}"
    if len(x) == 1:
        _png(y[0], out)
        return f"translated {what} into {out}"
    rows = translation.preview(game, {direction[0]: x})(state)  # input -> translated (-> back)
    viz.save_grid(rows.reshape(-1, *rows.shape[2:]), out, cols=rows.shape[1], title=title)
    back = " -> back" if BACK[direction] in game.transforms else ""
    return f"translated {what} into {out} (rows: input -> translated{back})"
