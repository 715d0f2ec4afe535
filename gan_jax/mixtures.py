"""Gaussian mixtures for studying mode collapse, and the PacGAN protocol's scores.

  ring8      8 Gaussians on the unit circle at (cos 2 pi i/8, sin 2 pi i/8), std 0.01
  grid25     25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05
  bimodal1d  2 Gaussians at -2 and +2 on a line, std 0.2

Protocol (PacGAN, Lin et al. 2018, after VEEGAN): draw 2,500 samples; a sample is high quality when it
lies within 3 std of its nearest mode; a mode is captured when at least one high-quality sample is
nearest to it; the reverse KL is KL(q || uniform) of the histogram q of high-quality samples over modes.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture:
    name: str
    means: np.ndarray  # M x D
    std: float

    @property
    def dim(self) -> int:
        return self.means.shape[1]


def _ring8() -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)  # endpoint=False: 8 distinct modes
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


MIXTURES = {
    "ring8": Mixture("ring8", _ring8(), 0.01),
    "grid25": Mixture("grid25", np.array([(x, y) for x in range(-4, 5, 2) for y in range(-4, 5, 2)], np.float64), 0.05),
    "bimodal1d": Mixture("bimodal1d", np.array([[-2.0], [2.0]]), 0.2),
}
PROTOCOL_SAMPLES = 2_500
HIGH_QUALITY_STDS = 3.0


def sample(mixture: Mixture, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples with equal weight on every mode, and each one's mode.

    Args:
      mixture: a Mixture (`MIXTURES["ring8"]`, ...). n: how many. rng: a numpy Generator.

    Returns:
      (n x D float32 samples, n int32 mode indices).

    >>> x, modes = sample(MIXTURES["ring8"], 5, np.random.default_rng(0))
    >>> x.shape, modes.shape
    ((5, 2), (5,))
    """
    modes = rng.integers(0, len(mixture.means), n)
    x = mixture.means[modes] + mixture.std * rng.standard_normal((n, mixture.dim))
    return x.astype(np.float32), modes.astype(np.int32)


def scores(samples: np.ndarray, mixture: Mixture) -> dict:
    """The PacGAN protocol's scores of generated samples.

    Args:
      samples: N x D. mixture: the true Mixture.

    Returns:
      {"modes": modes captured (one high-quality sample each), "of_modes", "high_quality": the fraction of
      samples within 3 std of their nearest mode, "reverse_kl": of their mode histogram to uniform (inf
      when no sample is high quality)}.

    >>> m = MIXTURES["ring8"]
    >>> scores(m.means, m)["modes"]   # one sample on each mode
    8
    """
    x = np.asarray(samples, np.float64).reshape(len(samples), -1)
    dist = np.linalg.norm(x[:, None, :] - mixture.means[None, :, :], axis=-1)
    nearest, d_min = dist.argmin(1), dist.min(1)
    good = d_min <= HIGH_QUALITY_STDS * mixture.std
    counts = np.bincount(nearest[good], minlength=len(mixture.means))
    if counts.sum():
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(np.sum(q * np.log(q * len(mixture.means))))
    else:
        reverse_kl = float("inf")
    return {"modes": int((counts > 0).sum()), "of_modes": len(mixture.means),
            "high_quality": float(good.mean()), "reverse_kl": reverse_kl}
