"""Image files -> uint8 pixels: PNG and JPEG files, folders of them, resized and made grey or colour as asked.

Every malformed input is a `DataError` of one line naming the file (a file that is not an image, a broken
image, images of mixed sizes without a resize, an empty folder). `gan_jax.data` reads a folder as one
domain with it, `gan_jax.domains` two, `gan_jax.translate_io` the inputs of `gan-jax translate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class DataError(RuntimeError):
    """A data source is unavailable or a data file is malformed."""


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """uint8 pixels resized to size x size (bicubic, as the CycleGAN paper loads its images).

    Args:
      pixels: H x W or H x W x C uint8. size: the side.

    Returns:
      size x size (x C) uint8 (the input itself when it has that size).

    >>> resize(np.zeros((8, 6, 3), np.uint8), 4).shape
    (4, 4, 3)
    """
    from PIL import Image

    if pixels.shape[0] == size and pixels.shape[1] == size:
        return pixels
    grey = pixels.ndim == 2
    out = np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC))
    return out if grey else out.reshape(size, size, -1)


def read_image(path: Path) -> np.ndarray:
    """One PNG or JPEG file as uint8 pixels: H x W (grey) or H x W x 3 (colour; alpha dropped).

    Args:
      path: the file.

    Returns:
      The pixels; DataError naming the file when it is not a readable image.

    >>> import tempfile
    >>> from PIL import Image
    >>> f = Path(tempfile.mkdtemp()) / "x.png"
    >>> Image.fromarray(np.zeros((5, 4), np.uint8)).save(f)
    >>> read_image(f).shape
    (5, 4)
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("1", "L", "I;16", "I", "F"):
                im = im.convert("L")
            elif mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im, np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable PNG or JPEG image ({type(e).__name__}); remove it or replace it") \
            from None


def image_files(folder: Path) -> list[Path]:
    """The images of a folder, sorted by name (hidden files skipped; any other file is an error).

    Args:
      folder: the folder.

    Returns:
      Their paths; DataError for a missing or empty folder or a file that is not .png/.jpg/.jpeg.

    >>> import tempfile
    >>> image_files(Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    gan_jax.image_files.DataError: ... holds no images (.png, .jpg, .jpeg)
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p for p in files if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise DataError(f"{others[0]}: not a PNG or JPEG file (.png, .jpg, .jpeg), in a folder of images; move it "
                        "out of the folder")
    if not files:
        raise DataError(f"{folder}: the folder holds no images (.png, .jpg, .jpeg)")
    return files


def stack(images: list[np.ndarray], files: list[Path], size: int = 0, channels: int = 0) -> np.ndarray:
    """uint8 images as one N x H x W x C array: resized to `size` when set (else they must share a size), grey
    made colour when any is colour (or as `channels` says).

    Args:
      images: H x W or H x W x 3 uint8 arrays. files: where each came from (named in errors). size: a side
      to resize to (0: keep). channels: 1 or 3 (0: colour when any image is).

    Returns:
      N x H x W x C uint8; DataError naming the first file of another size.

    >>> stack([np.zeros((2, 2), np.uint8), np.ones((2, 2, 3), np.uint8)], [Path("a"), Path("b")]).shape
    (2, 2, 2, 3)
    """
    if size:
        images = [resize(im, size) for im in images]
    sizes = {im.shape[:2] for im in images}
    if len(sizes) > 1:
        first = images[0].shape[:2]
        odd = next(f for f, im in zip(files, images) if im.shape[:2] != first)
        raise DataError(f"{odd}: {_odd_shape(images, files, odd)} differs from {files[0].name}'s "
                        f"{first[0]}x{first[1]}; set data.resize=SIZE to resize every image")
    want = channels or (3 if any(im.ndim == 3 and im.shape[-1] == 3 for im in images) else 1)
    out = []
    for im in images:
        if im.ndim == 2:
            im = im[..., None]
        if im.shape[-1] != want:
            im = np.repeat(im, 3, axis=-1) if want == 3 else np.round(im.mean(-1, keepdims=True)).astype(np.uint8)
        out.append(im)
    return np.stack(out)


def _odd_shape(images, files, odd) -> str:
    h, w = images[files.index(odd)].shape[:2]
    return f"{h}x{w}"


def read_folder(folder: str | Path, resize: int = 0, channels: int = 0, limit: int = 0) -> np.ndarray:
    """A folder of PNG/JPEG images as N x H x W x C uint8.

    Args:
      folder: the folder. resize: a square side to resize to (0: keep; every image must then have one size).
      channels: 1 or 3 to force grey or colour (0: colour when any image is). limit: read the first N (0: all).

    Returns:
      The pixels; DataError naming the file for anything malformed.

    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> for i in range(2): Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(d / f"{i}.png")
    >>> read_folder(d, resize=4).shape
    (2, 4, 4, 3)
    """
    files = image_files(Path(folder))[: limit or None]
    return stack([read_image(f) for f in files], files, resize, channels)
