"""PNG figures: sample grids (PIL) and training curves (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image


def _atomic_save(save, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save(tmp)
    os.replace(tmp, path)


def grid_image(images: np.ndarray, cols: int | None = None, pad: int = 2, scale: int = 3) -> Image.Image:
    """Tiles N x H x W x C images in [-1, 1] into one picture (gray for C=1), `scale`x nearest upscaled."""
    images = np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = img
    picture = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def save_grid(images: np.ndarray, path: str | Path, cols: int | None = None) -> Path:
    path = Path(path)
    _atomic_save(lambda p: grid_image(images, cols).save(p, format="PNG"), path)
    return path


def read_metrics(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def save_curves(rows: list[dict], path: str | Path, title: str = "") -> Path | None:
    """Loss and accuracy curves against the iteration, from metrics.jsonl rows; None without rows."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("d_loss", "discriminator"), ("g_loss", "generator")):
        ax_loss.plot(steps, [r[key] for r in rows], label=label)
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training losses")
    for key, label in (("d_acc_real", "D accuracy on real"), ("d_acc_fake", "D accuracy on fake")):
        ax_acc.plot(steps, [100 * r[key] for r in rows], label=label)
    ax_acc.set(xlabel="iteration", ylabel="accuracy (%)", title="discriminator accuracy", ylim=(-2, 102))
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    _atomic_save(lambda p: fig.savefig(p, format="png", dpi=100), path)
    plt.close(fig)
    return path
