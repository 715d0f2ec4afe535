"""Which examples a training step reads: a pure function of the data key and the step's position.

`replacement` (the book): a batch of uniform random indices, fresh at every step (and turn).
`epoch`: shuffled epochs without replacement; batch number p (= step * turns + turn) reads slots
(p mod E) * b ... + b - 1 of epoch p // E's permutation (E = n // b batches per epoch, a partial last
batch is dropped).

Images may sit on the device as uint8 pixels (`compact`, what `gan_jax.fit` does with data.load's
images: 4x less memory): a drawn batch of uint8 N x H x W x C is turned into data.load's float32 values
inside the step (`pixels`), so a step sees the same numbers either way.

The epoch permutation is never materialised: slot s maps to `permute(key_epoch, s, n)`, a keyed
bijection of [0, n) (a 4-round Feistel network on the smallest even number of bits that holds n, with
cycle walking for values >= n). That costs O(b) per step, where `jax.random.permutation` of 60,000
indices took ~60 ms per step on this CPU, 20x a small VAE's whole step.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

ROUNDS = 4
PIXEL_VALUES = np.arange(256, dtype=np.float32) / 127.5 - 1.0  # data.load's float32 of each pixel 0..255
SAMPLING = ("replacement", "epoch")


def _mix(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash (lowbias32): every input bit affects every output bit."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


@functools.partial(jax.jit, static_argnums=2)
def permute(key: jax.Array, slots: jax.Array, n: int) -> jax.Array:
    """The images of `slots` under the keyed permutation of [0, n) (a Feistel network, cycle-walked).

    Args:
      key: picks the permutation. slots: ints in [0, n). n: the size (static).

    Returns:
      int32 array like `slots`.

    >>> p = permute(jax.random.key(0), jnp.arange(10), 10)
    >>> sorted(p.tolist()) == list(range(10))
    True
    """
    half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
    mask = jnp.uint32((1 << half) - 1)
    round_keys = jax.random.bits(key, (ROUNDS,), jnp.uint32)

    def feistel(x):
        left, right = x >> half, x & mask
        for r in range(ROUNDS):
            left, right = right, left ^ (_mix(right ^ round_keys[r]) & mask)
        return (left << half) | right

    def walk(x):  # a permutation of [0, 4^half) restricted to [0, n): apply again until inside
        return jax.lax.while_loop(lambda y: jnp.any(y >= n), lambda y: jnp.where(y >= n, feistel(y), y), feistel(x))

    return walk(slots.astype(jnp.uint32)).astype(jnp.int32)


def batch_indices(data_key: jax.Array, step: jax.Array, n: int, b: int, sampling: str, turn: int = 0,
                  turns: int = 1) -> jax.Array:
    """Indices of the `b` examples (of `n`) read by `turn` (of `turns`, e.g. a critic's turns) of `step`.

    Args:
      data_key: the run's data key. step: the iteration. n: dataset size. b: batch size.
      sampling: "replacement" or "epoch". turn, turns: D's turn of this step and how many there are.

    Returns:
      b int32 indices.

    >>> idx = batch_indices(jax.random.key(0), jnp.asarray(0), 8, 4, "epoch")
    >>> idx.shape
    (4,)
    """
    if sampling == "replacement":
        key = jax.random.fold_in(data_key, step)
        return jax.random.randint(jax.random.fold_in(key, turn) if turn else key, (b,), 0, n)
    epoch, i = jnp.divmod(step * turns + turn, n // b)
    return permute(jax.random.fold_in(data_key, -1 - epoch), i * b + jnp.arange(b), n)


@jax.tree_util.register_pytree_node_class
class Parts(tuple):
    """A dataset of several parts of different lengths, each drawn at its own indices: a batch of it is
    the tuple of each part's batch. `Parts(images, (labelled_images, labels))`, for instance, gives an
    unlabelled batch from all the images and a labelled one from a small labelled set.

    Part 0 is drawn exactly as a plain dataset is (so its batches are those of a run on it alone); part j
    from the data key folded with j. A part may be an array or a tuple of arrays of one length.

    >>> data = Parts(jnp.zeros((8, 2)), (jnp.ones((3, 2)), jnp.arange(3)))
    >>> x, (xl, yl) = draw(data, jax.random.key(0), jnp.asarray(0), 4, "replacement")
    >>> x.shape, xl.shape, yl.shape
    ((4, 2), (4, 2), (4,))
    """

    def tree_flatten(self):
        return tuple(self), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        """Rebuilds Parts from its children (the pytree protocol).

        Args:
          aux: unused (None). children: the parts.

        Returns:
          Parts of the children, as they are (never unpacked).

        >>> len(Parts.tree_unflatten(None, ((1, 2),)))
        1
        """
        return tuple.__new__(cls, children)

    def __new__(cls, *parts):
        if not parts:
            raise ValueError("Parts needs at least one part")
        return super().__new__(cls, parts)

    def __repr__(self) -> str:
        return f"Parts({', '.join(type(p).__name__ for p in self)})"


@jax.tree_util.register_pytree_with_keys_class
class Unpaired(dict):
    """Named datasets of different lengths, each drawn at its own indices: a batch of it is the dict of each
    part's batch, `batch["a"]`, `batch["b"]`. Two unpaired domains of a translation game (horses and zebras)
    are `Unpaired(a=horses, b=zebras)`; a part may be an array or a tuple/dict of arrays of one length
    (kept paired within the part).

    Part j (in the order given) is drawn from the data key folded with j, so no two parts share indices; an
    epoch (`sampling="epoch"`) runs over each part at its own length.

    >>> data = Unpaired(a=jnp.zeros((8, 2)), b=jnp.ones((3, 2)))
    >>> batch = draw(data, jax.random.key(0), jnp.asarray(0), 4, "replacement")
    >>> batch["a"].shape, batch["b"].shape
    ((4, 2), (4, 2))
    """

    def __init__(self, parts: dict | None = None, /, **named):
        super().__init__(parts or {}, **named)
        if not self:
            raise ValueError("Unpaired needs at least one part, e.g. Unpaired(a=images_a, b=images_b)")
        for name, part in self.items():
            if not jax.tree.leaves(part):
                raise ValueError(f"Unpaired part {name!r} holds no array")
            if len({a.shape[0] for a in jax.tree.leaves(part)}) > 1:
                raise ValueError(f"Unpaired part {name!r}: its arrays differ in length "
                                 f"({[a.shape[0] for a in jax.tree.leaves(part)]}); a part's arrays are paired")
            if not jax.tree.leaves(part)[0].shape[0]:
                raise ValueError(f"Unpaired part {name!r} is empty (0 examples)")

    def tree_flatten_with_keys(self):
        return tuple((jax.tree_util.DictKey(k), v) for k, v in self.items()), tuple(self)

    @classmethod
    def tree_unflatten(cls, names, children):
        """Rebuilds Unpaired from its children (the pytree protocol; never checked again, since inside a
        traced function its leaves are tracers or vmap's in_axes).

        Args:
          names: the parts' names. children: the parts.

        Returns:
          Unpaired of the children.

        >>> Unpaired.tree_unflatten(("a",), (None,))
        Unpaired(a=NoneType)
        """
        out = dict.__new__(cls)
        dict.update(out, zip(names, children))
        return out

    def __repr__(self) -> str:
        return f"Unpaired({', '.join(f'{k}={type(v).__name__}' for k, v in self.items())})"


def size(data) -> int:
    """How many examples an epoch has: the length of the data's first array (Parts and Unpaired: of the
    first part).

    Args:
      data: an array, a tuple of arrays of one length, or `Parts`.

    Returns:
      The length.

    >>> size(Parts(jnp.zeros((8, 2)), jnp.zeros((3, 2))))
    8
    """
    return jax.tree.leaves(data)[0].shape[0]


def pixels(x):
    """uint8 images (N x H x W x C, pixels 0..255) as data.load's float32 values in [-1, 1] (looked up, so
    bit for bit the same numbers); any other array as it is.

    Args:
      x: an array.

    Returns:
      The images in [-1, 1], or `x`.

    >>> pixels(jnp.array([0, 255], jnp.uint8).reshape(2, 1, 1, 1)).ravel().tolist()
    [-1.0, 1.0]
    """
    if x.dtype == jnp.uint8 and x.ndim == 4:
        return jnp.asarray(PIXEL_VALUES)[x.astype(jnp.int32)]
    return x


def compact(data):
    """Each float32 image array (N x H x W x C) that holds only data.load's pixel values, as uint8 pixels
    (a quarter of the memory; `pixels` gives the floats back exactly); every other array as it is.

    Args:
      data: an array, a tuple of arrays or `Parts` (numpy or JAX).

    Returns:
      The same structure.

    >>> compact(np.full((1, 2, 2, 1), -1.0, np.float32)).dtype
    dtype('uint8')
    """
    def one(a):
        a = np.asarray(a) if not isinstance(a, jax.Array) else a
        if a.dtype != np.float32 or a.ndim != 4:
            return a
        host = np.asarray(a)
        p = np.clip(np.rint((host + 1.0) * 127.5), 0, 255).astype(np.uint8)
        return p if np.array_equal(PIXEL_VALUES[p], host) else a

    return jax.tree.map(one, data)


def draw(data, data_key: jax.Array, step: jax.Array, b: int, sampling: str, turn: int = 0, turns: int = 1):
    """The batch that `turn` of `step` reads: `b` examples of each part, at `batch_indices`.

    Args:
      data: an array, a tuple of arrays of one length (drawn at the same indices), or `Parts`.
      data_key, step, b, sampling, turn, turns: as `batch_indices`.

    Returns:
      The batch, shaped as `data` with `b` rows per array (uint8 images as float32, `pixels`).

    >>> draw(jnp.arange(10), jax.random.key(0), jnp.asarray(0), 3, "epoch").shape
    (3,)
    """
    if isinstance(data, Parts):
        return Parts(*(draw(part, jax.random.fold_in(data_key, j) if j else data_key, step, b, sampling, turn, turns)
                       for j, part in enumerate(data)))
    if isinstance(data, Unpaired):
        return Unpaired.tree_unflatten(tuple(data), tuple(
            draw(part, jax.random.fold_in(data_key, j) if j else data_key, step, b, sampling, turn, turns)
            for j, part in enumerate(data.values())))
    lengths = {a.shape[0] for a in jax.tree.leaves(data)}
    if len(lengths) > 1:
        raise ValueError(f"paired data (a tuple or dict of arrays) must have one length, got lengths "
                         f"{sorted(lengths)}; parts drawn independently are gan_jax.data.Unpaired(a=..., b=...)")
    idx = batch_indices(data_key, step, size(data), b, sampling, turn, turns)
    return jax.tree.map(lambda a: pixels(jnp.take(a, idx, axis=0)), data)
