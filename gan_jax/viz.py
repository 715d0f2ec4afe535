"""PNG figures: sample grids (PIL), training curves and mixture samples (matplotlib, Agg backend)."""

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
    """Tiles images into one picture.

    Args:
      images: N x H x W x C in [-1, 1] (gray for C=1). cols: per row (default: a square).
      pad: white pixels between tiles. scale: nearest-neighbour upscaling.

    Returns:
      A PIL image.

    >>> grid_image(np.zeros((4, 8, 8, 1)), pad=0, scale=1).size
    (16, 16)
    """
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


def seeds_image(images: np.ndarray, cols: int | None = None, gap: int = 12) -> Image.Image:
    """One `grid_image` per seed, side by side, each headed "seed i".

    Args:
      images: S x N x H x W x C in [-1, 1]. cols: per row of each grid. gap: pixels between grids.

    Returns:
      A PIL image.

    >>> seeds_image(np.zeros((2, 4, 8, 8, 1))).size[0] > 2 * grid_image(np.zeros((4, 8, 8, 1))).size[0]
    True
    """
    from PIL import ImageDraw

    grids = [grid_image(x, cols).convert("RGB") for x in images]
    head = 14
    w, h = grids[0].size
    canvas = Image.new("RGB", (len(grids) * (w + gap) - gap, h + head), "white")
    draw = ImageDraw.Draw(canvas)
    for i, g in enumerate(grids):
        canvas.paste(g, (i * (w + gap), head))
        draw.text((i * (w + gap) + 2, 1), f"seed {i}", fill="black")
    return canvas


TITLE_HEIGHT = 14  # pixels of the strip a titled grid has on top


def titled(picture: Image.Image, title: str) -> Image.Image:
    """`picture` with a white strip of TITLE_HEIGHT pixels on top holding `title`.

    Args:
      picture: a PIL image. title: one line of text.

    Returns:
      A new RGB image, TITLE_HEIGHT pixels taller.

    >>> titled(grid_image(np.zeros((4, 8, 8, 1)), pad=0, scale=1), "step 10").size
    (16, 30)
    """
    from PIL import ImageDraw

    canvas = Image.new("RGB", (picture.width, picture.height + TITLE_HEIGHT), "white")
    canvas.paste(picture.convert("RGB"), (0, TITLE_HEIGHT))
    ImageDraw.Draw(canvas).text((2, 1), title, fill="black")
    return canvas


def save_grid(images: np.ndarray, path: str | Path, cols: int | None = None, title: str = "") -> Path:
    """Writes `grid_image(images, cols)` as a PNG (atomically); for S x N x H x W x C (a run of several
    seeds) `seeds_image`, one grid per seed.

    Args:
      images: N x H x W x C (or S x N x H x W x C) in [-1, 1]. path: the .png to write. cols: per row.
      title: a line above the grid (`titled`); none when empty.

    Returns:
      The path.

    >>> # gj.viz.save_grid(gan.sample(state, z), "grid.png", title="step 1000")
    """
    path = Path(path)
    picture = seeds_image if np.ndim(images) == 5 else grid_image
    _atomic_save(lambda p: (titled(picture(images, cols), title) if title else picture(images, cols)).save(
        p, format="PNG"), path)
    return path


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a metrics.jsonl; a row that does not parse (cut short by a kill or a full disk) is skipped.

    Args:
      path: the file.

    Returns:
      A list of dicts.

    >>> # rows = read_metrics("runs/x/metrics.jsonl")
    """
    rows = []
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def save_curves(rows: list[dict], path: str | Path, title: str = "", panels: tuple[tuple[str, ...], ...] = ()
                ) -> Path | None:
    """Curves of every metric in metrics.jsonl rows against the iteration; None without rows.

    Args:
      rows: metrics.jsonl rows ({"step": ..., metric: value, ...}).
      path: the PNG to write.
      title: the figure's title.
      panels: groups of metric names drawn on one panel (e.g. D's and G's losses); every other metric
        gets a panel of its own. `it_per_s` (the loop's speed) is not drawn. A run of several seeds
        (`gan_jax.Seeds`): each metric's mean, with every seed's curve thin beside it.

    Returns:
      The path written, or None when there are no rows.

    >>> # save_curves(read_metrics("runs/x/metrics.jsonl"), "curves.png", panels=(("d_loss", "g_loss"),))
    """
    if not rows:
        return None
    from gan_jax.seeds import base_metric

    columns = [n for n in rows[-1] if n not in ("step", "it_per_s")]
    names = [n for n in columns if base_metric(n) == n]  # a run of several seeds: their columns join the mean's
    per_seed = {n: [c for c in columns if c != n and base_metric(c) == n] for n in names}
    groups = [tuple(n for n in group if n in names) for group in panels]
    groups = [g for g in groups if g]
    grouped = {n for g in groups for n in g}
    groups += [(n,) for n in names if n not in grouped]
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(groups))
    nrows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.4 * nrows), squeeze=False)
    for ax, group in zip(axes.flat, groups):
        for name in group:
            points = [(r["step"], r[name]) for r in rows if name in r]
            seeds = per_seed[name]
            line, = ax.plot([p[0] for p in points], [p[1] for p in points],
                            label=f"{name} (mean of {len(seeds)} seeds)" if seeds else name, lw=1.8 if seeds else 1.5)
            for column in seeds:
                points = [(r["step"], r[column]) for r in rows if column in r]
                ax.plot([p[0] for p in points], [p[1] for p in points], color=line.get_color(), lw=0.6, alpha=0.4)
        ax.set(xlabel="iteration", title=" / ".join(group))
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        if len(group) > 1 or per_seed[group[0]]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(plt, fig, path)


def save_figure(plt, fig, path: str | Path, dpi: int = 100) -> Path:
    """Writes a matplotlib figure as a PNG (atomically) and closes it.

    Args:
      plt: matplotlib.pyplot. fig: the figure. path: the .png. dpi: resolution.

    Returns:
      The path.

    >>> # save_figure(plt, fig, "figure.png")
    """
    fig.tight_layout()
    path = Path(path)
    _atomic_save(lambda p: fig.savefig(p, format="png", dpi=dpi), path)
    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_points(ax, points: np.ndarray, means: np.ndarray, std: float, label: str = "samples") -> None:
    """Samples over a mixture's modes on a matplotlib axis.

    Args:
      ax: the axis. points: N x D samples (D = 1 or 2). means: the modes (may be empty). std: the modes'
        std. label: the samples' legend.

    Returns:
      None: a scatter for 2-D (modes as crosses, 3-std circles), a histogram against the true density
      for 1-D.

    >>> # draw_points(ax, samples, mixture.means, mixture.std)
    """
    points = np.asarray(points).reshape(len(points), -1)
    if points.shape[1] == 1 and not len(means):
        ax.hist(points[:, 0], bins=200, density=True, alpha=0.6, label=label)
        return
    if points.shape[1] == 1:
        lo, hi = means.min() - 1.0, means.max() + 1.0
        ax.hist(np.clip(points[:, 0], lo, hi), bins=200, range=(lo, hi), density=True, alpha=0.6, label=label)
        grid = np.linspace(lo, hi, 1000)
        density = np.mean([np.exp(-0.5 * ((grid - m) / std) ** 2) / (std * np.sqrt(2 * np.pi)) for m in means[:, 0]], 0)
        ax.plot(grid, density, "r-", lw=1, label="true density")
        ax.legend(loc="upper right")
        return
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label=label)
    if not len(means):  # no known modes: just the samples
        ax.set_aspect("equal")
        return
    ax.scatter(means[:, 0], means[:, 1], marker="x", c="red", s=30, label="modes")
    from matplotlib.patches import Circle

    for m in means:
        ax.add_patch(Circle(m, 3 * std, fill=False, ec="red", lw=0.5))
    ax.set_aspect("equal")
    span = np.abs(means).max() * 1.5 + 0.5
    ax.set(xlim=(-span, span), ylim=(-span, span))


def save_points(points: np.ndarray, means: np.ndarray, std: float, path: str | Path, title: str = "") -> Path:
    """`draw_points` in a figure of its own, written as a PNG; for S x N x D points (a run of several
    seeds) one panel per seed.

    Args:
      points, means, std: as `draw_points` (points N x D, or S x N x D). path: the .png. title: the
        figure's title.

    Returns:
      The path.

    >>> # save_points(samples, mixture.means, mixture.std, "scatter.png")
    """
    plt = _pyplot()
    sets = np.asarray(points)
    sets = sets[None] if sets.ndim < 3 else sets
    flat = sets.reshape(len(sets), sets.shape[1], -1).shape[2] > 1
    size = (5, 5) if flat else (7, 3.5)
    fig, axes = plt.subplots(1, len(sets), figsize=(size[0] * len(sets), size[1]), squeeze=False)
    for i, (ax, x) in enumerate(zip(axes.flat, sets)):
        draw_points(ax, x, means, std)
        if len(sets) > 1:
            ax.set_title(f"seed {i}", fontsize=9)
    if len(sets) > 1:
        fig.suptitle(title, fontsize=9)
    else:
        axes[0, 0].set_title(title, fontsize=9)
    return save_figure(plt, fig, path)
