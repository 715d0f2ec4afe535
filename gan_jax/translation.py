"""Image-to-image translation as games: CycleGAN (two generators, two discriminators, unpaired domains) and
pix2pix (one U-Net generator against a PatchGAN of (input, output) pairs), built on `gan_jax.Game`.

CycleGAN (Zhu et al. 2017): G_AB maps domain A to B, G_BA maps B to A; D_A tells real A from G_BA(b),
D_B real B from G_AB(a). One step: G_AB and G_BA together descend

    LS(D_B(G_AB(a)), 1) + LS(D_A(G_BA(b)), 1)                                    (least squares, LSGAN)
    + lambda_cycle * (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|)                 (L1 cycle, means)
    + identity * lambda_cycle * (|G_AB(b) - b| + |G_BA(a) - a|)                  (L1 identity, same shapes)

then D_A and D_B descend 0.5 * (LS(D(real), 1) + LS(D(fake), 0)) each, where the fakes pass through a
history pool of earlier fakes per discriminator (`HistoryPool`, 50 images; 0 = none, the book). The
paper: lambda_cycle 10, identity 0.5, pool 50, Adam 2e-4 / beta1 0.5 constant for half the run, then
linearly to 0 (`schedule`). The book's notebook: identity 0.9, no pool, no decay.

pix2pix (Isola et al. 2017): G maps A to B on paired data ({"a": inputs, "b": targets}); D sees the pair
(input, output) stacked along the channels. D descends 0.5 * (BCE(D(a, b), 1) + BCE(D(a, G(a)), 0)), G
BCE(D(a, G(a)), 1) + lambda_l1 * |G(a) - b|, lambda_l1 100. `adversarial=False` trains G on the L1 loss
alone: the baseline the paper compares against.

Real images are cropped at random to `crop` pixels (0: as stored) and flipped left-right with
probability 1/2 (`flip`) as the paper loads them (`augment`; a pair is cropped and flipped together).
Each game's `transforms` are "a2b" (and "b2a" for CycleGAN), what `gan-jax translate` and the previews use.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from gan_jax.game import Game, Transform, Turn
from gan_jax.models import translate as models
from gan_jax.recipes import recipe

GENERATORS = ("resnet", "unet")
CHUNK = 250  # images per compiled call of translate_all
MODES = ("cyclegan", "pix2pix")


# -- losses --------------------------------------------------------------------------------------------


def least_squares(logits: jax.Array, target: float) -> jax.Array:
    """LSGAN's loss: the mean of (logits - target)^2 over every patch.

    Args:
      logits: D's outputs (any shape). target: 1.0 for real, 0.0 for fake.

    Returns:
      A scalar.

    >>> float(least_squares(jnp.array([0.0, 2.0]), 1.0))
    1.0
    """
    return jnp.mean((logits - target) ** 2)


def l1(x: jax.Array, y: jax.Array) -> jax.Array:
    """The mean absolute difference (the cycle, identity and pix2pix L1 losses).

    Args:
      x, y: arrays of one shape.

    Returns:
      A scalar.

    >>> float(l1(jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])))
    0.5
    """
    return jnp.mean(jnp.abs(x - y))


def cycle_losses(a, b, fake_b, fake_a, back_a, back_b, same_a=None, same_b=None, lambda_cycle: float = 10.0,
                 identity: float = 0.5) -> dict[str, jax.Array]:
    """The generators' reconstruction terms, weighted.

    Args:
      a, b: real images. fake_b = G_AB(a), fake_a = G_BA(b). back_a = G_BA(fake_b), back_b = G_AB(fake_a).
      same_a = G_BA(a), same_b = G_AB(b): the identity passes (None: no identity term).
      lambda_cycle: the cycle weight. identity: the identity weight as a fraction of lambda_cycle.

    Returns:
      {"cycle": lambda_cycle * (L1(back_a, a) + L1(back_b, b)), "identity": identity * lambda_cycle *
      (L1(same_b, b) + L1(same_a, a))}.

    >>> z, o = jnp.zeros((1, 2)), jnp.ones((1, 2))
    >>> {k: float(v) for k, v in cycle_losses(z, z, z, z, o, z, z, o, 10.0, 0.5).items()}
    {'cycle': 10.0, 'identity': 5.0}
    """
    out = {"cycle": lambda_cycle * (l1(back_a, a) + l1(back_b, b))}
    if same_a is not None:
        out["identity"] = identity * lambda_cycle * (l1(same_b, b) + l1(same_a, a))
    return out


# -- the history pool ----------------------------------------------------------------------------------


class PoolImages(nnx.Variable):
    """The images a HistoryPool holds (a variable that is not a parameter: kept by the turn that uses it)."""


class HistoryPool(nnx.Module):
    """A buffer of earlier generated images (Shrivastava et al. 2017; CycleGAN's `ImagePool`): D sees a mix of
    the newest fakes and older ones, which damps oscillation.

    `pool(images, key)` goes through the batch in order: while the pool holds fewer than `size` images, an
    image is stored and returned as it is; once full, with probability 1/2 it is returned as it is, else a
    random stored image is returned and the new one takes its place. Size 0 returns the batch unchanged.

    Args:
      size: images held (the paper: 50). shape: one image's shape. rngs: unused (the players' signature).

    >>> pool = HistoryPool(2, (1,), rngs=nnx.Rngs(0))
    >>> pool(jnp.array([[1.0], [2.0]]), jax.random.key(0)).tolist(), int(pool.count[...])
    ([[1.0], [2.0]], 2)
    """

    def __init__(self, size: int, shape: Sequence[int], *, rngs: nnx.Rngs | None = None):
        if size < 0:
            raise ValueError(f"pool: images held must be >= 0, got {size}")
        self.size = size
        self.images = PoolImages(jnp.zeros((size, *shape), jnp.float32))
        self.count = PoolImages(jnp.zeros((), jnp.int32))

    def __call__(self, images: jax.Array, key: jax.Array) -> jax.Array:
        if self.size == 0:
            return images

        def one(carry, item):
            pool, count = carry
            image, k = item
            k_swap, k_slot = jax.random.split(k)
            filling = count < self.size
            swap = jnp.logical_and(~filling, jax.random.uniform(k_swap) < 0.5)
            slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, self.size))
            old = pool[slot]
            out = jnp.where(swap, old, image)
            pool = pool.at[slot].set(jnp.where(jnp.logical_or(filling, swap), image, old))
            return (pool, jnp.minimum(count + 1, self.size)), out

        keys = jax.random.split(key, images.shape[0])
        (pool, count), out = jax.lax.scan(one, (self.images[...], self.count[...]),
                                          (images.astype(jnp.float32), keys))
        self.images[...], self.count[...] = pool, count
        return out


# -- augmentation and the schedule ---------------------------------------------------------------------


def augment(x: jax.Array, key: jax.Array, crop: int = 0, flip: bool = True) -> jax.Array:
    """The paper's loading augmentation: a random `crop` x `crop` window of each image and a left-right flip
    with probability 1/2, each image its own.

    Args:
      x: B x H x W x C. key: a typed key. crop: the window's side (0 or >= H, W: no crop). flip: flip or not.

    Returns:
      B x crop x crop x C (or B x H x W x C).

    >>> augment(jnp.zeros((2, 8, 8, 1)), jax.random.key(0), crop=6).shape
    (2, 6, 6, 1)
    """
    b, h, w, c = x.shape
    k_y, k_x, k_f = jax.random.split(key, 3)
    if crop > h or crop > w:
        raise ValueError(f"crop: {crop} pixels is more than the {h}x{w} images; set it to at most {min(h, w)}")
    if crop and (crop < h or crop < w):
        ys = jax.random.randint(k_y, (b,), 0, h - crop + 1)
        xs = jax.random.randint(k_x, (b,), 0, w - crop + 1)
        x = jax.vmap(lambda im, y0, x0: jax.lax.dynamic_slice(im, (y0, x0, 0), (crop, crop, c)))(x, ys, xs)
    if flip:
        x = jnp.where(jax.random.bernoulli(k_f, 0.5, (b, 1, 1, 1)), x[:, :, ::-1], x)
    return x


def schedule(lr: float, steps: int, decay: str = "linear", updates_per_step: int = 1):
    """The paper's rate: constant for the first half of `steps`, then linearly to 0 at `steps`.

    Args:
      lr: the starting rate. steps: the run's iterations. decay: "linear" (the paper) or "constant".
      updates_per_step: the player's optax updates per iteration.

    Returns:
      An optax schedule (or the constant rate).

    >>> f = schedule(1.0, 100)
    >>> float(f(0)), float(f(50)), float(f(75)), float(f(100))
    (1.0, 1.0, 0.5, 0.0)
    """
    if decay == "constant":
        return lr
    if decay != "linear":
        raise ValueError(f"decay: got {decay!r}, expected linear or constant")
    half = max(steps, 2) // 2 * updates_per_step
    return optax.join_schedules([optax.constant_schedule(lr),
                                 optax.linear_schedule(lr, 0.0, max(steps, 2) * updates_per_step - half)], [half])


# -- the games -----------------------------------------------------------------------------------------


def generator(kind: str, shape_in, shape_out, width: int, blocks: int = 9, depth: int = 4, norm: str = "instance"):
    """A generator factory (`rngs -> module`) from images of `shape_in` to `shape_out`.

    Args:
      kind: "resnet" (the paper's) or "unet" (the book's). shape_in, shape_out: H x W x C of each side
      (the same H x W). width: its first layer's features. blocks: the ResNet's residual blocks. depth: the
      U-Net's levels. norm: "instance" or "none".

    Returns:
      A functools.partial awaiting `rngs=`.

    >>> g = generator("unet", (16, 16, 1), (16, 16, 3), 4, depth=2)(rngs=nnx.Rngs(0))
    >>> g(jnp.zeros((1, 16, 16, 1))).shape
    (1, 16, 16, 3)
    """
    if kind not in GENERATORS:
        raise ValueError(f"generator: got {kind!r}, expected one of {', '.join(GENERATORS)}")
    if tuple(shape_in[:2]) != tuple(shape_out[:2]):
        raise ValueError(f"image_shape: the domains' images must have one size (set data.resize), got "
                         f"{shape_in[0]}x{shape_in[1]} and {shape_out[0]}x{shape_out[1]}")
    if kind == "resnet":
        return functools.partial(models.ResnetGenerator, shape_in[-1], shape_out[-1], width, blocks, norm)
    return functools.partial(models.UNet, shape_in[-1], shape_out[-1], width, depth, norm)


def _adam(lr: float, b1: float, steps: int, decay: str) -> optax.GradientTransformation:
    return optax.adam(schedule(lr, steps, decay), b1=b1)


def _shapes(shape_a, shape_b, crop: int):
    """The players' image shapes: the stored ones, or crop x crop windows of them."""
    return tuple((crop, crop, s[-1]) if crop else tuple(s) for s in (shape_a, shape_b))


@recipe
def cyclegan(shape_a: Sequence[int], shape_b: Sequence[int], generator_kind: str = "resnet", width: int = 64,
             blocks: int = 9, depth: int = 4, d_width: int = 64, d_layers: int = 3, norm: str = "instance",
             lambda_cycle: float = 10.0, identity: float = 0.5, pool: int = 50, crop: int = 0, flip: bool = True,
             lr: float = 2e-4, b1: float = 0.5, d_lr: float | None = None, d_b1: float | None = None,
             steps: int = 1, decay: str = "linear", batch_size: int = 1,
             precision: str = "float32", devices: int = 0) -> Game:
    """CycleGAN as a four-player game (and two history pools; see the module docstring).

    Args:
      shape_a, shape_b: one stored image of each domain (H x W x C; the same H x W, channels may differ).
      generator_kind: "resnet" or "unet". width, blocks, depth: the generators'. d_width, d_layers: the
      PatchGANs'. norm: "instance" or "none". lambda_cycle: the cycle loss's weight. identity: the identity
      loss's weight as a fraction of lambda_cycle (the paper 0.5, the book 0.9; 0 = none; needs the same
      channels). pool: fakes held per D. crop, flip: the augmentation. lr, b1: the generators' Adam (d_lr,
      d_b1: the discriminators', default the same). steps, decay: the schedule. batch_size, precision,
      devices: as `Game`.

    Returns:
      A `Game` with players G_AB, G_BA, D_A, D_B, pool_A, pool_B; data `gan_jax.data.Unpaired(a=, b=)`.

    >>> game = cyclegan((16, 16, 1), (16, 16, 1), width=4, blocks=1, d_width=4, d_layers=1, pool=2, batch_size=2)
    >>> import gan_jax as gj
    >>> data = gj.data.Unpaired(a=jnp.zeros((4, 16, 16, 1)), b=jnp.ones((4, 16, 16, 1)))
    >>> state, metrics = jax.jit(game.train_step)(game.init(0), data)
    >>> sorted(metrics)
    ['D_A', 'D_B', 'D_loss', 'G_loss', 'cycle', 'gan_A', 'gan_B', 'identity']
    """
    sa, sb = _shapes(shape_a, shape_b, crop)
    if identity and sa[-1] != sb[-1]:
        raise ValueError(f"identity: the identity loss compares G_AB(b) with b, so the domains need the same "
                         f"channels (got {sa[-1]} and {sb[-1]}); set identity=0")
    for name, value in (("lambda_cycle", lambda_cycle), ("identity", identity)):
        if value < 0:
            raise ValueError(f"{name}: must be >= 0, got {value}")
    g = functools.partial(generator, generator_kind, width=width, blocks=blocks, depth=depth, norm=norm)
    def d(channels):
        return functools.partial(models.PatchGAN, channels, d_width, d_layers, norm)

    players = {"G_AB": g(sa, sb), "G_BA": g(sb, sa), "D_A": d(sa[-1]), "D_B": d(sb[-1]),
               "pool_A": functools.partial(HistoryPool, pool, sa), "pool_B": functools.partial(HistoryPool, pool, sb)}

    def reals(batch, key):
        k_a, k_b = jax.random.split(key)
        return augment(batch["a"], k_a, crop, flip), augment(batch["b"], k_b, crop, flip)

    def g_loss(nets, batch, key):
        a, b = reals(batch, key)
        fake_b, fake_a = nets.G_AB(a), nets.G_BA(b)
        gan_b, gan_a = least_squares(nets.D_B(fake_b), 1.0), least_squares(nets.D_A(fake_a), 1.0)
        same = (nets.G_BA(a), nets.G_AB(b)) if identity else (None, None)
        terms = cycle_losses(a, b, fake_b, fake_a, nets.G_BA(fake_b), nets.G_AB(fake_a), *same,
                             lambda_cycle=lambda_cycle, identity=identity)
        return gan_a + gan_b + sum(terms.values()), {"gan_A": gan_a, "gan_B": gan_b, **terms}

    def d_loss(nets, batch, key):
        a, b = reals(batch, key)
        k_a, k_b = jax.random.split(jax.random.fold_in(key, 1))
        fake_a = nets.pool_A(jax.lax.stop_gradient(nets.G_BA(b)), k_a)
        fake_b = nets.pool_B(jax.lax.stop_gradient(nets.G_AB(a)), k_b)
        d_a = 0.5 * (least_squares(nets.D_A(a), 1.0) + least_squares(nets.D_A(fake_a), 0.0))
        d_b = 0.5 * (least_squares(nets.D_B(b), 1.0) + least_squares(nets.D_B(fake_b), 0.0))
        return d_a + d_b, {"D_A": d_a, "D_B": d_b}

    g_adam, d_adam = _adam(lr, b1, steps, decay), _adam(d_lr or lr, b1 if d_b1 is None else d_b1, steps, decay)
    return Game(players, {"G_AB": g_adam, "G_BA": g_adam, "D_A": d_adam, "D_B": d_adam},
                [Turn(("G_AB", "G_BA"), g_loss, name="G"), Turn(("D_A", "D_B"), d_loss, name="D",
                                                                keeps=("pool_A", "pool_B"))],
                batch_size=batch_size, precision=precision, devices=devices,
                headline=("G_loss", "D_loss", "cycle"),
                transforms={"a2b": Transform(lambda nets, x: nets.G_AB(x), sa),
                            "b2a": Transform(lambda nets, x: nets.G_BA(x), sb)})


@recipe
def pix2pix(shape_a: Sequence[int], shape_b: Sequence[int], width: int = 64, depth: int = 4, d_width: int = 64,
            d_layers: int = 3, norm: str = "instance", lambda_l1: float = 100.0, adversarial: bool = True,
            crop: int = 0, flip: bool = True, lr: float = 2e-4, b1: float = 0.5, d_lr: float | None = None,
            d_b1: float | None = None, steps: int = 1, decay: str = "linear", batch_size: int = 1,
            precision: str = "float32", devices: int = 0) -> Game:
    """pix2pix as a game (see the module docstring): a U-Net G against a PatchGAN of (input, output) pairs.

    Args:
      shape_a, shape_b: one stored input and one stored target (the same H x W). width, depth: the U-Net's.
      d_width, d_layers: the PatchGAN's. norm: "instance" or "none". lambda_l1: the L1 loss's weight.
      adversarial: False trains G on L1 alone (no D; the paper's baseline). crop, flip: the augmentation,
      the same for both sides of a pair. lr, b1: G's Adam (d_lr, d_b1: D's, default the same). steps,
      decay: the schedule. batch_size, precision, devices: as `Game`.

    Returns:
      A `Game` (players G and D, or G alone); data {"a": inputs, "b": targets} of one length.

    >>> game = pix2pix((16, 16, 1), (16, 16, 1), width=4, depth=2, d_width=4, d_layers=1, batch_size=2)
    >>> data = {"a": jnp.zeros((4, 16, 16, 1)), "b": jnp.ones((4, 16, 16, 1))}
    >>> state, metrics = jax.jit(game.train_step)(game.init(0), data)
    >>> sorted(metrics)
    ['D_loss', 'G_loss', 'gan', 'l1']
    """
    sa, sb = _shapes(shape_a, shape_b, crop)
    if lambda_l1 < 0:
        raise ValueError(f"lambda_l1: must be >= 0, got {lambda_l1}")
    players = {"G": generator("unet", sa, sb, width, depth=depth, norm=norm)}
    if adversarial:
        players["D"] = functools.partial(models.PatchGAN, sa[-1] + sb[-1], d_width, d_layers, norm)

    def pair(batch, key):
        a, b = batch["a"], batch["b"]
        both = augment(jnp.concatenate([a, b], axis=-1), key, crop, flip)
        return both[..., : a.shape[-1]], both[..., a.shape[-1]:]

    def bce(logits, real: bool):
        return jnp.mean(jax.nn.softplus(-logits if real else logits))

    def g_loss(nets, batch, key):
        a, b = pair(batch, key)
        fake = nets.G(a)
        rec = lambda_l1 * l1(fake, b)
        if not adversarial:
            return rec, {"l1": rec}
        gan = bce(nets.D(jnp.concatenate([a, fake], axis=-1)), True)
        return gan + rec, {"gan": gan, "l1": rec}

    def d_loss(nets, batch, key):
        a, b = pair(batch, key)
        fake = jax.lax.stop_gradient(nets.G(a))
        return 0.5 * (bce(nets.D(jnp.concatenate([a, b], axis=-1)), True)
                      + bce(nets.D(jnp.concatenate([a, fake], axis=-1)), False))

    tx = {"G": _adam(lr, b1, steps, decay)}
    if adversarial:
        tx["D"] = _adam(d_lr or lr, b1 if d_b1 is None else d_b1, steps, decay)
    turns = [Turn("G", g_loss)] + ([Turn("D", d_loss)] if adversarial else [])
    return Game(players, tx, turns, batch_size=batch_size, precision=precision,
                devices=devices, headline=("G_loss", "D_loss", "l1") if adversarial else ("G_loss",),
                transforms={"a2b": Transform(lambda nets, x: nets.G(x), sa)})


# -- using a trained translator ------------------------------------------------------------------------


def as_channels(x: jax.Array, c: int) -> jax.Array:
    """Images with `c` channels: grey repeated to colour, colour averaged to grey.

    Args:
      x: B x H x W x C. c: 1 or 3.

    Returns:
      B x H x W x c.

    >>> as_channels(jnp.ones((1, 2, 2, 1)), 3).shape
    (1, 2, 2, 3)
    """
    if x.shape[-1] == c:
        return x
    return jnp.repeat(x, c, axis=-1) if x.shape[-1] == 1 else jnp.mean(x, axis=-1, keepdims=True)


def translate_all(game, state, name: str, images: np.ndarray) -> np.ndarray:
    """Every image through the game's transform `name`, in fixed-size chunks.

    Args:
      game: a translator. state: its state. name: "a2b" or "b2a". images: N x H x W x C in [-1, 1].

    Returns:
      N x H x W x C' float32.

    >>> g = pix2pix((16, 16, 1), (16, 16, 1), width=2, depth=1, adversarial=False)
    >>> translate_all(g, g.init(0), "a2b", np.zeros((3, 16, 16, 1), np.float32)).shape
    (3, 16, 16, 1)
    """
    fn = jax.jit(lambda s, x: game.transform(s, name, x))
    out = []
    for i in range(0, len(images), CHUNK):
        chunk = np.asarray(images[i:i + CHUNK], np.float32)
        pad = CHUNK - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), np.float32)])
        out.append(np.asarray(fn(state, chunk))[:CHUNK - pad])
    return np.concatenate(out)


def preview(game: Game, inputs: dict):
    """A preview function: for each direction the game has, rows of input -> translated -> reconstructed
    (the way back, where the game has one), every image in the widest domain's channels.

    Args:
      game: a translator (`transforms` a2b and maybe b2a). inputs: {"a": A images, "b": B images} (fixed,
        held out), in [-1, 1] at the transforms' shapes.

    Returns:
      fn(state) -> R x C x H x W x channels.

    >>> game = pix2pix((16, 16, 1), (16, 16, 3), width=4, depth=2, d_width=4, d_layers=1)
    >>> preview(game, {"a": np.zeros((2, 16, 16, 1))})(game.init(0)).shape
    (2, 2, 16, 16, 3)
    """
    ways = [("a2b", "b2a", "a"), ("b2a", "a2b", "b")]
    ways = [(there, back if back in game.transforms else None, side) for there, back, side in ways
            if there in game.transforms and side in inputs]
    xs = {side: jnp.asarray(inputs[side], jnp.float32) for _, _, side in ways}
    cols = 3 if all(back for _, back, _ in ways) else 2

    def rows(state):
        out = []
        for there, back, side in ways:
            x = xs[side]
            y = game.transform(state, there, x)
            out.append([x, y] + ([game.transform(state, back, y)] if back else []))
        width = max(im.shape[-1] for row in out for im in row)
        return jnp.concatenate([jnp.stack([as_channels(im, width) for im in row]
                                          + [jnp.zeros_like(as_channels(row[0], width))] * (cols - len(row)), axis=1)
                                for row in out])

    draw = jax.jit(rows)
    return lambda state: np.asarray(draw(state))
