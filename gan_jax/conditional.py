"""Labels for a conditional GAN: `LabelledNoise(z_dim, classes)` draws G's input (z, labels).

A conditional GAN is the same engine with tuple samples (`gan_jax.gan`): the dataset is (images, labels),
G maps (z, labels) to (images, labels) and D judges the pair (`gan_jax.models.conditional`). The labels of
the fake batch are drawn inside the compiled step, uniformly over the classes, from the step's key, like
z; the real batch's come with its images, so a resumed run is bitwise the uninterrupted one.

Example:
    >>> noise = LabelledNoise(z_dim=8, classes=10)
    >>> z, y = noise(jax.random.key(0), 4)
    >>> z.shape, y.shape, str(y.dtype)
    ((4, 8), (4,), 'int32')
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class LabelledNoise:
    """G's input for a conditional GAN: z ~ N(0, I) and labels ~ uniform over `classes`.

    Args:
      z_dim: the noise dimension. classes: how many labels (0 .. classes - 1).
      per_class: columns of the preview grid (`grid`), one row per class.
    """

    z_dim: int
    classes: int
    per_class: int = 10

    def __post_init__(self):
        if self.z_dim < 1 or self.classes < 2 or self.per_class < 1:
            raise ValueError(f"LabelledNoise needs z_dim >= 1, classes >= 2 and per_class >= 1, got {self}")

    def __call__(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """n draws of (z, labels).

        Args:
          key: a typed key. n: how many.

        Returns:
          (n x z_dim float32, n int32 labels uniform over the classes).

        >>> LabelledNoise(4, 3)(jax.random.key(0), 5)[1].shape
        (5,)
        """
        k_z, k_y = jax.random.split(key)
        return (jax.random.normal(k_z, (n, self.z_dim), jnp.float32),
                jax.random.randint(k_y, (n,), 0, self.classes, jnp.int32))

    def for_labels(self, key: jax.Array, labels) -> tuple[jax.Array, jax.Array]:
        """(z, labels) for the labels asked for, one z each.

        Args:
          key: a typed key. labels: ints in 0 .. classes - 1.

        Returns:
          (len(labels) x z_dim float32, the labels as int32); ValueError for a label out of range.

        >>> LabelledNoise(4, 10).for_labels(jax.random.key(0), [7, 7])[1].tolist()
        [7, 7]
        """
        y = np.asarray(labels)
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) == 0:
            raise ValueError(f"labels must be a non-empty list of integers, got {labels!r}")
        bad = sorted({int(v) for v in y if not 0 <= v < self.classes})
        if bad:
            raise ValueError(f"label {bad[0]} is out of range: this model has classes 0 to {self.classes - 1}")
        return jax.random.normal(key, (len(y), self.z_dim), jnp.float32), jnp.asarray(y, jnp.int32)

    def grid(self, key: jax.Array) -> tuple[tuple[jax.Array, jax.Array], int]:
        """A preview grid's input: row c holds `per_class` samples of class c (the same z in every row).

        Args:
          key: a typed key.

        Returns:
          ((classes * per_class z, labels), per_class: the grid's columns).

        >>> (z, y), cols = LabelledNoise(4, 3, per_class=2).grid(jax.random.key(0))
        >>> y.tolist(), cols
        ([0, 0, 1, 1, 2, 2], 2)
        """
        z = jax.random.normal(key, (self.per_class, self.z_dim), jnp.float32)
        return (jnp.tile(z, (self.classes, 1)), jnp.repeat(jnp.arange(self.classes, dtype=jnp.int32), self.per_class)), \
            self.per_class
