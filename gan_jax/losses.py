"""Pure GAN losses from D's raw outputs ("logits"), and the penalties on D's input gradient.

A GAN loss is any function of D's logits on a real and a fake batch,

    loss(real_logits, fake_logits) -> (d_loss, g_loss)

which the engine (`gan_jax.gan.GAN`) minimises: D's step on d_loss, G's step on g_loss. A loss whose D
part splits into a real term and a fake term, and whose G part reads only the fake logits, is a
`SplitLoss`: it is called the same way, and also lets the engine take the book's split D update (a step
on the real batch, then one on the fake batch), report D's accuracy, and train G on its top-k fakes.

The built-in family (each a mean over the batch; BCE(l, y) = y softplus(-l) + (1 - y) softplus(l) is
binary cross-entropy on logit l, exact for any finite logit):

    non_saturating  D: BCE(l_r, 1) + BCE(l_f, 0)         G: BCE(l_f, 1) = -mean log D(G(z))  (the book)
    minimax         D: as non_saturating                 G: -BCE(l_f, 0) = mean log(1 - D(G(z)))
    least_squares   D: 1/2 (l_r - 1)^2 + 1/2 l_f^2       G: 1/2 (l_f - 1)^2                  (LSGAN)
    hinge           D: relu(1 - l_r) + relu(1 + l_f)     G: -l_f
    wasserstein     D: -l_r + l_f                        G: -l_f                             (WGAN)

and two relativistic losses, which compare real and fake logits and so run with one joint D step; G's
turn sees a real batch too:

    rpgan               D: softplus(l_f - l_r)            G: softplus(l_r - l_f)   (pairs i-th real, i-th fake)
    relativistic_average D: BCE(l_r - mean l_f, 1) + BCE(l_f - mean l_r, 0)
                         G: BCE(l_f - mean l_r, 1) + BCE(l_r - mean l_f, 0)        (RaGAN)

(Jolicoeur-Martineau 2019; RpGAN as in Huang et al. 2024). One-sided label smoothing is an option of the
losses that have targets: `non_saturating.smoothed(0.1)` trains D towards 0.9 on real data.

    >>> d, g = hinge(jnp.array([2.0, 0.0]), jnp.array([-2.0, 0.5]))
    >>> float(d), float(g)   # mean relu(1 - l_r) + mean relu(1 + l_f); -mean l_f
    (1.25, 0.75)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

Loss = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def bce_with_logits(logits: jax.Array, label: float | jax.Array) -> jax.Array:
    """Mean binary cross-entropy of `logits` against `label` (1 = real, 0 = fake).

    Args:
      logits: D's outputs, any shape.
      label: the target probability, a constant or an array broadcastable to `logits`.

    Returns:
      A scalar: mean of label * softplus(-l) + (1 - label) * softplus(l).

    >>> float(bce_with_logits(jnp.zeros(4), 1.0))  # sigmoid(0) = 0.5 -> log 2
    0.6931471...
    """
    return jnp.mean(label * jax.nn.softplus(-logits) + (1.0 - label) * jax.nn.softplus(logits))


@dataclasses.dataclass(frozen=True)
class SplitLoss:
    """A GAN loss whose D part is d_real(real_logits) + d_fake(fake_logits) and whose G part is
    g(fake_logits). Called as any loss: `loss(real_logits, fake_logits) -> (d_loss, g_loss)`.

    Attributes:
      name: what config.json and logs call it.
      d_real, d_fake, g: the terms; `d_real` takes the real target (1, or 1 - smoothing) as its second
        argument when `smoothable`.
      threshold: D's output above it means "real" (for D's accuracy); None for a critic with no decision.
      smoothable: whether one-sided label smoothing applies (losses with a real target).
      smoothing: the smoothing in use (see `smoothed`).

    Example:
      >>> custom = SplitLoss("soft_hinge", lambda r: jnp.mean(jax.nn.softplus(1 - r)),
      ...                    lambda f: jnp.mean(jax.nn.softplus(1 + f)), lambda f: -jnp.mean(f))
      >>> d_loss, g_loss = custom(jnp.ones(3), -jnp.ones(3))
    """

    name: str
    d_real: Callable[..., jax.Array]
    d_fake: Callable[[jax.Array], jax.Array]
    g: Callable[[jax.Array], jax.Array]
    threshold: float | None = 0.0
    smoothable: bool = False
    smoothing: float = 0.0

    def real_term(self, real_logits: jax.Array) -> jax.Array:
        """D's loss on a real batch (with the label smoothing in use).

        Args:
          real_logits: D's outputs on a real batch.

        Returns:
          A scalar.

        >>> float(non_saturating.real_term(jnp.zeros(2)))   # log 2
        0.6931471...
        """
        return self.d_real(real_logits, 1.0 - self.smoothing) if self.smoothable else self.d_real(real_logits)

    def __call__(self, real_logits: jax.Array, fake_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.real_term(real_logits) + self.d_fake(fake_logits), self.g(fake_logits)

    def smoothed(self, smoothing: float) -> "SplitLoss":
        """The same loss with D's real target 1 - `smoothing` (one-sided label smoothing).

        Args:
          smoothing: in [0, 1).

        Returns:
          A new SplitLoss; raises ValueError for a loss without targets (hinge, wasserstein).

        >>> non_saturating.smoothed(0.1).smoothing
        0.1
        """
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
        if smoothing and not self.smoothable:
            raise ValueError(f"label smoothing applies to losses with a real target (cross-entropy, least "
                             f"squares), not {self.name}")
        return dataclasses.replace(self, smoothing=float(smoothing))


def _ns_real(real_logits, target=1.0):
    return bce_with_logits(real_logits, target)


def _ns_fake(fake_logits):
    return bce_with_logits(fake_logits, 0.0)


def _ls_real(real_logits, target=1.0):
    return 0.5 * jnp.mean(jnp.square(real_logits - target))


def _mean_logit_g(fake_logits):
    return -jnp.mean(fake_logits)


non_saturating = SplitLoss("non_saturating", _ns_real, _ns_fake, lambda f: bce_with_logits(f, 1.0), 0.0, True)
minimax = SplitLoss("minimax", _ns_real, _ns_fake, lambda f: -bce_with_logits(f, 0.0), 0.0, True)
least_squares = SplitLoss("least_squares", _ls_real, lambda f: 0.5 * jnp.mean(jnp.square(f)),
                          lambda f: 0.5 * jnp.mean(jnp.square(f - 1.0)), 0.5, True)
hinge = SplitLoss("hinge", lambda r: jnp.mean(jax.nn.relu(1.0 - r)), lambda f: jnp.mean(jax.nn.relu(1.0 + f)),
                  _mean_logit_g, 0.0)
wasserstein = SplitLoss("wasserstein", lambda r: -jnp.mean(r), jnp.mean, _mean_logit_g, None)


def rpgan(real_logits: jax.Array, fake_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The relativistic pairing loss (RpGAN): D wants each real logit above its paired fake one.

    Args:
      real_logits, fake_logits: D's outputs on the real and the fake batch, the same shape.

    Returns:
      (mean softplus(l_f - l_r), mean softplus(l_r - l_f)).

    >>> d, g = rpgan(jnp.array([1.0]), jnp.array([1.0]))
    >>> round(float(d), 4), round(float(g), 4)   # log 2 each when D cannot tell them apart
    (0.6931, 0.6931)
    """
    diff = real_logits - fake_logits
    return jnp.mean(jax.nn.softplus(-diff)), jnp.mean(jax.nn.softplus(diff))


def relativistic_average(real_logits: jax.Array, fake_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The relativistic average loss (RaGAN): each logit is judged against the other batch's mean.

    Args:
      real_logits, fake_logits: D's outputs on the real and the fake batch.

    Returns:
      (BCE(l_r - mean l_f, 1) + BCE(l_f - mean l_r, 0), BCE(l_f - mean l_r, 1) + BCE(l_r - mean l_f, 0)).

    >>> d, g = relativistic_average(jnp.zeros(2), jnp.zeros(2))
    >>> round(float(d), 4)   # 2 log 2
    1.3863
    """
    real_rel = real_logits - jnp.mean(fake_logits)
    fake_rel = fake_logits - jnp.mean(real_logits)
    d = bce_with_logits(real_rel, 1.0) + bce_with_logits(fake_rel, 0.0)
    g = bce_with_logits(fake_rel, 1.0) + bce_with_logits(real_rel, 0.0)
    return d, g


def class_cross_entropy(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer labels.

    Args:
      class_logits: B x K. labels: B ints in 0 .. K-1.

    Returns:
      A scalar.

    >>> round(float(class_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))), 4)   # log 4
    1.3863
    """
    logp = jax.nn.log_softmax(class_logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1))


@dataclasses.dataclass(frozen=True)
class ACGANLoss:
    """ACGAN (Odena et al. 2017): an adversarial loss on D's logit plus `weight` times the auxiliary
    classifier's cross-entropy: on real samples for D, on fake samples for G (and, with classify_fakes, on
    fake samples for D too). D's outputs are `models.conditional.ACGANDiscriminator`'s (logit, class
    logits, labels).

    By default only real samples teach D's classifier, as the Keras ACGAN example does: with the paper's
    classifier that also learns G's samples under their labels (`classify_fakes=True`), G collapsed here
    to a few label-blind shapes (10% label accuracy on the DCGAN players after 12,000 iterations,
    `docs/notes/2026-12-02-conditional-dcgans-and-fault-trials.md`).

    Args:
      adversarial: the loss on the logits (default the book's non-saturating one). weight: the
        classification term's weight. classify_fakes: D's classifier also learns G's samples under the
        labels they were drawn for (the paper's loss).

    >>> loss = ACGANLoss()
    >>> out = (jnp.zeros(2), jnp.zeros((2, 4)), jnp.array([0, 1]))
    >>> d, g = loss(out, out)
    >>> round(float(d), 4), round(float(g), 4)   # 2 log 2 + log 4, log 2 + log 4
    (2.7726, 2.0794)
    """

    adversarial: Loss = non_saturating
    weight: float = 1.0
    classify_fakes: bool = False

    @property
    def name(self) -> str:
        fakes = ", fakes classified" if self.classify_fakes else ""
        return f"acgan({loss_name(self.adversarial)}, weight={self.weight:g}{fakes})"

    def __call__(self, real, fake) -> tuple[jax.Array, jax.Array]:
        (l_real, c_real, y_real), (l_fake, c_fake, y_fake) = real, fake
        d_adv, g_adv = self.adversarial(l_real, l_fake)
        ce_real, ce_fake = class_cross_entropy(c_real, y_real), class_cross_entropy(c_fake, y_fake)
        d_class = ce_real + ce_fake if self.classify_fakes else ce_real
        return d_adv + self.weight * d_class, g_adv + self.weight * ce_fake


BUILT_IN: dict[str, Loss] = {
    "non_saturating": non_saturating,
    "minimax": minimax,
    "least_squares": least_squares,
    "hinge": hinge,
    "wasserstein": wasserstein,
    "rpgan": rpgan,
    "relativistic_average": relativistic_average,
}


def loss_name(loss: Loss) -> str:
    """What logs call a loss.

    Args:
      loss: a loss function.

    Returns:
      A SplitLoss's name, else module:qualified name.

    >>> loss_name(rpgan)
    'gan_jax.losses:rpgan'
    """
    if isinstance(getattr(loss, "name", None), str):  # SplitLoss, ACGANLoss, a preset's loss object
        return loss.name
    return f"{getattr(loss, '__module__', '?')}:{getattr(loss, '__qualname__', type(loss).__name__)}"


def _input_grad_norms_sq(d_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """|dD/dx|^2 for each of D's outputs (each D input: `pack` samples when packed).

    D's outputs for different inputs are independent (without batch statistics), so the gradient of
    their sum holds each output's own input gradient."""
    logits, vjp = jax.vjp(d_fn, x)
    (g,) = vjp(jnp.ones_like(logits))
    return jnp.sum(jnp.square(g.reshape(logits.shape[0], -1)), axis=1)


def _stateless(d_fn):
    """A game's player (`gan_jax.game.Net`) with passes that keep no batch statistics, or `d_fn` as it is:
    a penalty's passes run under an inner gradient, whose statistics must not leave it."""
    return d_fn.using(keep_stats=False) if hasattr(d_fn, "using") else d_fn


def r1_penalty(d_fn: Callable[[jax.Array], jax.Array], x_real: jax.Array) -> jax.Array:
    """R1 (Mescheder et al. 2018) without its weight: 1/2 mean |grad_x D(x_real)|^2.

    Args:
      d_fn: D as a function of its input batch, returning one logit per D input; in a `gan_jax.Game`
        turn, the player itself (`nets.D`) or a function of it.
      x_real: a real batch.

    Returns:
      A scalar.

    >>> float(r1_penalty(lambda x: 3.0 * x[:, 0], jnp.ones((4, 2))))   # |grad| = 3 -> 9 / 2
    4.5
    """
    return 0.5 * jnp.mean(_input_grad_norms_sq(_stateless(d_fn), x_real))


def r2_penalty(d_fn: Callable[[jax.Array], jax.Array], x_fake: jax.Array) -> jax.Array:
    """R2 (Mescheder et al. 2018) without its weight: R1's penalty on fake samples, 1/2 mean |grad_x D(x_fake)|^2
    (R3GAN, Huang et al. 2024, uses both).

    Args:
      d_fn: D as a function of its input batch (in a `gan_jax.Game` turn, `nets.D`).
      x_fake: a batch of G's samples (held constant: the penalty shapes D, not G).

    Returns:
      A scalar.

    >>> float(r2_penalty(lambda x: jnp.sum(x ** 2, axis=1), jnp.ones((3, 2))))   # |grad| = |2x| -> 8 / 2
    4.0
    """
    return 0.5 * jnp.mean(_input_grad_norms_sq(_stateless(d_fn), jax.lax.stop_gradient(x_fake)))


def gradient_penalty(d_fn: Callable[[jax.Array], jax.Array], x_real: jax.Array, x_fake: jax.Array,
                     key: jax.Array, pack: int = 1) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017) without its weight: mean (|grad D(x_hat)| - 1)^2.

    Args:
      d_fn: D as a function of its input batch (in a `gan_jax.Game` turn, `nets.D`).
      x_real, x_fake: batches of the same shape.
      key: draws u ~ U(0, 1) once per D input; x_hat = u x_real + (1 - u) x_fake.
      pack: samples per D input (PacGAN).

    Returns:
      A scalar.

    >>> float(gradient_penalty(lambda x: x[:, 0], jnp.ones((2, 1)), jnp.zeros((2, 1)), jax.random.key(0)))
    0.0
    """
    n = x_real.shape[0] // pack
    u = jax.random.uniform(key, (n,) + (1,) * (x_real.ndim - 1), x_real.dtype)
    u = jnp.repeat(u, pack, axis=0)
    x_hat = u * x_real + (1.0 - u) * x_fake
    norms = jnp.sqrt(_input_grad_norms_sq(_stateless(d_fn), x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def accuracy(logits: jax.Array, label: float, threshold: float = 0.0) -> jax.Array:
    """Fraction of D's outputs on the side of `label` (1 real, 0 fake) of `threshold`.

    Args:
      logits: D's outputs.
      label: 1.0 for a real batch, 0.0 for a fake one.
      threshold: the decision boundary (logit 0 is probability 0.5).

    Returns:
      A scalar in [0, 1].

    >>> float(accuracy(jnp.array([1.0, -1.0]), 1.0))
    0.5
    """
    predicted_real = logits > threshold
    return jnp.mean(predicted_real if label == 1.0 else ~predicted_real)
