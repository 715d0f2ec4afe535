"""Previews: what a run draws into samples/ at every sample step.

A preview is either a function `fn(state) -> images` (N x H x W x C in [-1, 1], or R x C x H x W x C for R
rows of C images), which `gan_jax.fit` draws as a grid into samples/step_N.png, or an object with
open(run_dir, start_step), __call__(state, step) -> (path, words) and close() for previews that keep more
(scores, their own files). Built-ins: `samples` (the engine's samples at a fixed noise, the default) and
`round_trip` (rows of input -> output -> back, for a translator); `MixturePreview` scores as it draws
(`ScoredPreview` keeps such scores for a preset's own previews).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from gan_jax import mixtures, viz, xla
from gan_jax.metrics_log import _open_log
from gan_jax.players import main
from gan_jax.seeds import count, summarise


GRID_SIZE = 16  # the book's 4x4
SAMPLE_SEED = 1234


def _fixed_noise(engine, n: int, seed: int):
    """(z, cols): the engine's noise for n samples from `seed`; for a conditional GAN (`grid_noise`) one
    row of cols samples per class, else cols None."""
    grid = getattr(engine, "grid_noise", None)
    key = jax.random.key(seed)
    return grid(key, n) if grid is not None else (engine.noise(key, n), None)


def samples(engine, n: int = GRID_SIZE, seed: int = SAMPLE_SEED):
    """A preview function: the engine's samples at a fixed noise (G(z) for a GAN).

    Args:
      engine: anything with `noise(key, n)` and `sample(state, z)` (a `Game` with `sample=`, a `GAN`, ...).
      n: how many. seed: the noise's seed (the same z at every step, so a grid shows one z learning).

    Returns:
      fn(state) -> N x ... samples; for an engine with `grid_noise` (a conditional GAN) rows x cols x ...,
      one row per class.

    >>> from gan_jax import game
    >>> tiny = game._tiny_game()
    >>> samples(tiny, n=6)(tiny.init(0)).shape
    (6,)
    """
    z, cols = _fixed_noise(engine, n, seed)
    draw = xla.jit(lambda state: main(engine.sample(state, z)))  # the images of (images, labels)

    def fn(state):
        x = np.asarray(draw(state))
        return x.reshape(-1, cols, *x.shape[1:]) if cols else x

    return fn


def round_trip(game, inputs, there, back=None):
    """A preview function for a translator: one row per input, input -> output (-> back).

    Args:
      game: a `gan_jax.Game`. inputs: N x H x W x C images in [-1, 1] (a few held-out ones; fixed).
      there: (nets, x) -> the translation (e.g. `lambda nets, x: nets.G_AB(x)`).
      back: (nets, y) -> the way back (e.g. `lambda nets, y: nets.G_BA(y)`); None: rows of two.

    Returns:
      fn(state) -> N x 3 x H x W x C (or N x 2 x ...), the players in eval mode with their moving
      averages where kept.

    >>> from gan_jax import game
    >>> tiny = game._tiny_game()
    >>> fn = round_trip(tiny, np.zeros((3, 2)), there=lambda nets, x: x + 1, back=lambda nets, y: y - 1)
    >>> fn(tiny.init(0)).shape
    (3, 3, 2)
    """
    x = jax.numpy.asarray(inputs, jax.numpy.float32)

    def rows(state):
        nets = game.nets(state)
        y = there(nets, x)
        return jax.numpy.stack([x, y] + ([back(nets, y)] if back is not None else []), axis=1)

    draw = xla.jit(rows)
    return lambda state: np.asarray(draw(state))


class FunctionPreview:
    """A preview function `fn(state) -> images` as `fit` runs it: each result drawn as a grid into
    samples/step_N.png (R x C x H x W x C results: one row per R).

    Args:
      fn: the preview function. caption: words in the grid's title.

    >>> preview = FunctionPreview(lambda state: np.zeros((4, 8, 8, 1)))
    """

    def __init__(self, fn, caption: str = ""):
        self.fn, self.caption = fn, caption

    def open(self, run_dir: Path, start_step: int) -> None:
        """Prepares samples/.

        Args:
          run_dir: the run. start_step: where it starts.

        Returns:
          None.

        >>> import tempfile
        >>> FunctionPreview(lambda state: None).open(Path(tempfile.mkdtemp()), 0)
        """
        self.run_dir = run_dir
        (run_dir / "samples").mkdir(exist_ok=True)

    def _path(self, step: int) -> Path:
        return self.run_dir / "samples" / f"step_{step:06d}.png"

    def _title(self, step: int) -> str:
        return f"{self.run_dir.name}  step {step:,}" + (f"  ({self.caption})" if self.caption else "")

    def __call__(self, state, step: int) -> tuple[Path, str]:
        x = np.asarray(self.fn(state))
        if x.ndim not in (4, 5):
            raise ValueError(f"a preview function returns N x H x W x C images or R x C x H x W x C rows of them, "
                             f"got shape {x.shape}")
        cols = x.shape[1] if x.ndim == 5 else None
        x = x.reshape(-1, *x.shape[-3:])
        return viz.save_grid(x, self._path(step), cols, title=self._title(step)), ""

    def close(self) -> None:
        pass


def of(preview, engine):
    """What `fit` draws with: `preview` as given (an object with open/__call__/close), a function wrapped
    in `FunctionPreview`, or the default `GridPreview(engine)` for None.

    Args:
      preview: None, a preview function, or a preview object. engine: the run's engine.

    Returns:
      A preview object.

    >>> of(lambda state: np.zeros((1, 2, 2, 1)), None).__class__.__name__
    'FunctionPreview'
    """
    if preview is None:
        return GridPreview(engine)
    return preview if hasattr(preview, "open") else FunctionPreview(preview)


class GridPreview(FunctionPreview):
    """The default preview: the engine's samples at a fixed z, a 4x4 grid of images (one per seed for
    `Seeds`; for points, a scatter), written to samples/step_N.png under a title (the run, the step, and
    `caption` if given)."""

    def __init__(self, engine, n: int = GRID_SIZE, seed: int = SAMPLE_SEED, caption: str = ""):
        super().__init__(xla.jit(engine.sample), caption)
        self.engine, self.n, self.seed = engine, n, seed

    def open(self, run_dir: Path, start_step: int) -> None:
        """Prepares samples/ and the fixed z (`fit` calls it before the first step).

        Args:
          run_dir: the run. start_step: where the run starts.

        Returns:
          None.

        >>> # preview.open(Path("runs/x"), 0)
        """
        super().open(run_dir, start_step)
        self.z, self.cols = _fixed_noise(self.engine, self.n, self.seed)

    def __call__(self, state, step: int) -> tuple[Path, str]:
        """Writes samples/step_N.png (one grid per seed for `Seeds`); returns its path and a few words on it."""
        x = np.asarray(main(self.fn(state, self.z)))  # a conditional GAN's samples: (images, labels)
        if x.ndim == 4 + bool(count(self.engine)):
            return viz.save_grid(x, self._path(step), self.cols, title=self._title(step)), ""
        return viz.save_points(x, np.zeros((0, x.shape[-1] if x.ndim > 1 else 1)), 0.0, self._path(step),
                               f"step {step}"), ""


class ScoredPreview(GridPreview):
    """A GridPreview that also keeps scores.jsonl, one JSON row per preview step (`write`); a resume
    drops the rows after the step it starts from."""

    def open(self, run_dir: Path, start_step: int) -> None:
        """As GridPreview's, and opens scores.jsonl (rows after `start_step` dropped).

        Args:
          run_dir: the run. start_step: where the run starts.

        Returns:
          None.

        >>> # preview.open(Path("runs/x"), 0)
        """
        super().open(run_dir, start_step)
        self.scores = _open_log(run_dir / "scores.jsonl", start_step)

    def write(self, row: dict) -> None:
        """Appends one row to scores.jsonl.

        Args:
          row: {"step": ..., score: value, ...}.

        Returns:
          None.

        >>> # preview.write({"step": 1000, "modes": 8})
        """
        self.scores.write(json.dumps(row) + "\n")
        self.scores.flush()

    def close(self) -> None:
        self.scores.close()


class MixturePreview(ScoredPreview):
    """For a Gaussian mixture: 2,500 samples over its modes, with the PacGAN protocol's scores (also
    appended to scores.jsonl) at every preview step."""

    def __init__(self, engine, mixture: mixtures.Mixture, seed: int = SAMPLE_SEED):
        super().__init__(engine, mixtures.PROTOCOL_SAMPLES, seed)
        self.mixture = mixture

    def __call__(self, state, step: int) -> tuple[Path, str]:
        x = np.asarray(main(self.fn(state, self.z)))
        if bool(count(self.engine)):  # the mean over seeds, and every seed's scores
            per_seed = [mixtures.scores(xi, self.mixture) for xi in x]
            s, _ = summarise(per_seed)
            row = {"step": step, **s, "per_seed": per_seed}
        else:
            s = row = {"step": step, **mixtures.scores(x, self.mixture)}
        self.write(row)
        of = " (mean of seeds)" if bool(count(self.engine)) else ""
        words = (f"modes {s['modes']:g}/{s['of_modes']:g}, high quality {100 * s['high_quality']:.1f}%, "
                 f"reverse KL {s['reverse_kl']:.3f}{of}")
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        return viz.save_points(x, self.mixture.means, self.mixture.std, path, f"step {step}: {words}"), words


