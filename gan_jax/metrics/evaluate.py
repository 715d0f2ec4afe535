"""Sample-quality metrics on a frozen classifier's features and outputs (jitted, batched JAX).

  fd          Frechet distance between Gaussians fitted to the features of two sets:
              |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2)  (Heusel et al. 2017; here on MNIST features)
  score       classifier score (Inception-score style): exp E_x KL(p(y|x) || p(y))
  histogram   predicted classes; modes = classes holding >= 2% of the samples; KL(histogram || uniform)
  precision, recall    k-NN manifolds (Kynkaenniemi et al. 2019): a fake is precise when it falls inside
              some real sample's k-NN ball; a real is recalled when inside some fake's ball
  density, coverage    (Naeem et al. 2020): density = mean count of real balls holding a fake / k;
              coverage = fraction of real balls holding at least one fake

Every report sets the real-data floor beside the numbers: the same metrics for real training digits
against the same reference (test digits), i.e. what a perfect generator would score.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

MODE_SHARE = 0.02
BLOCK = 1024


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """FD between N(mu1, sigma1) and N(mu2, sigma2), in float64 (Tr sqrt(S1 S2) via the symmetric form
    sqrt(S1) S2 sqrt(S1), which has the same eigenvalues).

    Args:
      mu1, sigma1, mu2, sigma2: the two Gaussians' means and covariances.

    Returns:
      |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2).

    >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)), 6)
    2.0
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance of a set of features (float64).

    Args:
      features: N x F.

    Returns:
      (mean F, covariance F x F).

    >>> gaussian(np.array([[0.0, 1.0], [2.0, 3.0]]))[0].tolist()
    [1.0, 2.0]
    """
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def classifier_score(probs: np.ndarray) -> float:
    """The classifier score (Inception-score style): exp E_x KL(p(y|x) || p(y)).

    Args:
      probs: N x K class probabilities.

    Returns:
      A float in [1, K].

    >>> round(classifier_score(np.eye(10)), 6)   # confident and spread over all classes: the maximum
    10.0
    """
    p = np.asarray(probs, np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probs: np.ndarray) -> dict:
    """The predicted classes' histogram.

    Args:
      probs: N x K class probabilities.

    Returns:
      {"counts", "modes": classes holding >= 2% of the samples, "kl_uniform": KL(histogram || uniform)}.

    >>> class_histogram(np.eye(4))["modes"]
    4
    """
    classes = probs.shape[1]
    counts = np.bincount(np.asarray(probs).argmax(1), minlength=classes)
    share = counts / counts.sum()
    nz = share[share > 0]
    return {"counts": counts.tolist(), "modes": int((share >= MODE_SHARE).sum()),
            "kl_uniform": float(np.sum(nz * np.log(nz * classes)))}


def _sq_dists(a, b):
    """Squared distances between the rows of a and of b. The cross term at full float32 precision: on TF32
    GPUs and on TPUs a default-precision matmul rounds its inputs (to 10 or 7 bits of mantissa), which moves
    the k-NN radii and ball counts."""
    cross = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    return jnp.sum(a**2, 1)[:, None] - 2 * cross + jnp.sum(b**2, 1)[None, :]


def _in_blocks(block, rows: tuple, *whole) -> np.ndarray:
    """`block(*rows[i : i + BLOCK], *whole)` over BLOCK rows of `rows` at a time, joined: a distance matrix
    BLOCK x N at a time instead of N x N."""
    return np.concatenate([np.asarray(block(*(a[i : i + BLOCK] for a in rows), *whole))
                           for i in range(0, len(rows[0]), BLOCK)])


@functools.partial(jax.jit, static_argnums=2)
def _kth_neighbour_block(queries, points, k):
    """Distance from each query to its k-th nearest point (the query itself counts as the 0th).

    The k-th order statistic by k passes that each strike one smallest entry per row, then a minimum: the
    same value `lax.top_k` gives (ties included, one entry struck per pass), 13x faster on CPU, where
    XLA's top_k sorts (benchmarks/bench_knn_radii.py)."""
    d2 = _sq_dists(queries, points)
    columns = jnp.arange(d2.shape[1])[None, :]

    def strike_nearest(_, d):
        return jnp.where(columns == jnp.argmin(d, axis=1)[:, None], jnp.inf, d)

    d2 = jax.lax.fori_loop(0, k, strike_nearest, d2)
    return jnp.sqrt(jnp.maximum(jnp.min(d2, axis=1), 0.0))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Each point's distance to its k-th nearest neighbour among the others (the k-NN ball radii).

    Args:
      features: N x F. k: the neighbour.

    Returns:
      N radii.

    >>> np.round(knn_radii(np.array([[0.0], [1.0], [3.0]]), 1), 3).tolist()
    [1.0, 1.0, 2.0]
    """
    if len(features) <= k:
        raise InputError(f"the k-th nearest neighbour with k={k} needs more than {k} points, got {len(features)}; "
                         "use more images or a smaller k")
    f = jnp.asarray(features, jnp.float32)
    return _in_blocks(_kth_neighbour_block, (f,), f, k)


@jax.jit
def _ball_counts_block(queries, centres, radii):
    """For each query, how many balls (centres, radii) hold it."""
    d2 = _sq_dists(queries, centres)
    return jnp.sum(d2 <= radii[None, :] ** 2, axis=1)


@jax.jit
def _covered_block(centres, radii, queries):
    """For each ball, whether any query falls inside it."""
    d2 = _sq_dists(centres, queries)
    return jnp.any(d2 <= radii[:, None] ** 2, axis=1)


def _ball_counts(queries, centres, radii) -> np.ndarray:
    q, c, r = (jnp.asarray(a, jnp.float32) for a in (queries, centres, radii))
    return _in_blocks(_ball_counts_block, (q,), c, r)


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5,
                                      real_radii: np.ndarray | None = None) -> dict:
    """k-NN precision / recall (Kynkaanniemi et al. 2019), density / coverage (Naeem et al. 2020).

    Args:
      real: N x F real features. fake: M x F generated features. k: the neighbour of the balls.
      real_radii: `knn_radii(real, k)` when already computed (several sets against one reference).

    Returns:
      {"precision", "recall", "density", "coverage"}.

    >>> f = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    >>> precision_recall_density_coverage(f, f, k=3)["recall"]
    1.0
    """
    if min(len(real), len(fake)) <= k:
        raise InputError(f"k-NN precision/recall with k={k} needs more than {k} images in each set, got "
                         f"{len(real)} real and {len(fake)} generated; use more images or a smaller k")
    real_r = knn_radii(real, k) if real_radii is None else real_radii
    fake_r = knn_radii(fake, k)
    fake_in_real = _ball_counts(fake, real, real_r)
    real_in_fake = _ball_counts(real, fake, fake_r)
    c, r, q = (jnp.asarray(a, jnp.float32) for a in (real, real_r, fake))
    covered = _in_blocks(_covered_block, (c, r), q)
    return {"precision": float((fake_in_real > 0).mean()), "recall": float((real_in_fake > 0).mean()),
            "density": float(fake_in_real.mean() / k), "coverage": float(covered.mean())}


def compare(fake_feats, fake_probs, ref_feats, ref_stats=None, k: int = 5, ref_radii=None) -> dict:
    """All metrics of one set against the reference features.

    Args:
      fake_feats, fake_probs: the set's features and class probabilities. ref_feats: the reference's.
      ref_stats: its cached Gaussian. k: neighbours. ref_radii: its cached k-NN radii.

    Returns:
      {"n", "fd", "score", "modes", "kl_uniform", "class_counts", "precision", "recall", "density", "coverage"}.

    >>> # compare(*clf.apply(samples), clf.apply(test)[0])
    """
    mu_r, s_r = ref_stats or gaussian(ref_feats)
    mu_f, s_f = gaussian(fake_feats)
    hist = class_histogram(fake_probs)
    return {"n": int(len(fake_feats)), "fd": frechet_distance(mu_f, s_f, mu_r, s_r), "score": classifier_score(fake_probs),
            "modes": hist["modes"], "kl_uniform": hist["kl_uniform"], "class_counts": hist["counts"],
            **precision_recall_density_coverage(ref_feats, fake_feats, k, ref_radii)}


def table(results: dict, floor: dict, se: dict | None = None) -> str:
    """The printed table: every metric of the samples beside the real-data floor.

    Args:
      results: `compare` of the samples (for several seeds: their means). floor: `compare` of real images.
      se: for several seeds, each metric's standard error (the samples' column reads mean ± s.e.).

    Returns:
      Text, one line a metric.

    >>> print(table({"fd": 2.0}, {"fd": 1.0}, {"fd": 0.5}).splitlines()[1])
    Frechet distance (lower is better)            2.000 ± 0.500       1.000
    """
    rows = [("Frechet distance (lower is better)", "fd", "{:.3f}"), ("classifier score (max 10)", "score", "{:.3f}"),
            ("classes with >= 2% of samples", "modes", "{:.0f}"),
            ("KL(class histogram || uniform)", "kl_uniform", "{:.4f}"), ("precision", "precision", "{:.3f}"),
            ("recall", "recall", "{:.3f}"), ("density", "density", "{:.3f}"), ("coverage", "coverage", "{:.3f}")]
    rows = [r for r in rows if r[1] in results]
    width = 10 if se is None else 20
    head = "samples" if se is None else "samples, mean ± s.e."
    lines = [f"{'metric':<38} {head:>{width}} {'real floor':>11}"]
    for name, key, fmt in rows:
        mean = "{:.2f}" if se is not None and key == "modes" else fmt  # a mean over seeds need not be whole
        shown = mean.format(results[key]) + ("" if se is None else " ± " + mean.format(se.get(key, 0)))
        lines.append(f"{name:<38} {shown:>{width}} {fmt.format(floor[key]):>11}")
    return "\n".join(lines)


class InputError(ValueError):
    """Images the evaluator cannot read; the message says what it accepts."""


ACCEPTED = "images in [-1, 1], [0, 1] or [0, 255], shaped N x 28 x 28, N x 28 x 28 x 1 or N x 784"


def as_images(array: np.ndarray, image_shape=(28, 28, 1)) -> np.ndarray:
    """Any accepted layout and range -> N x H x W x C float32 in [-1, 1].

    Args:
      array: N x 28 x 28, N x 28 x 28 x 1 or N x 784, in [-1, 1], [0, 1] or [0, 255].
      image_shape: the classifier's (H, W, C).

    Returns:
      The images; InputError for anything else (NaN, wrong shape, values out of every range).

    >>> float(as_images(np.full((2, 784), 255.0)).max())
    1.0
    """
    x = np.asarray(array)
    h, w, c = image_shape
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"expected a numeric array, got dtype {x.dtype}; accepted: {ACCEPTED}")
    if x.ndim == 2 and x.shape[1] == h * w * c:
        x = x.reshape(-1, h, w, c)
    elif x.ndim == 3 and x.shape[1:] == (h, w) and c == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (h, w, c) or len(x) == 0:
        raise InputError(f"got shape {tuple(np.asarray(array).shape)}; accepted: {ACCEPTED}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError("the images contain NaN or infinite values")
    lo, hi = x.min(), x.max()
    if lo >= -1.0 - 1e-6 and hi <= 1.0 + 1e-6 and lo < 0:
        scaled = x
    elif lo >= 0 and hi <= 1.0 + 1e-6 and not np.issubdtype(np.asarray(array).dtype, np.integer):
        scaled = 2 * x - 1
    elif lo >= 0 and hi <= 255 + 1e-6:
        scaled = x / 127.5 - 1
    else:
        raise InputError(f"values span [{lo:.4g}, {hi:.4g}]; accepted: {ACCEPTED}")
    return np.clip(scaled, -1, 1).astype(np.float32)


def evaluate(images: np.ndarray, classifier, reference: np.ndarray, floor_images: np.ndarray, k: int = 5) -> dict:
    """Metrics of `images` and of real `floor_images` against real `reference` images.

    Args:
      images: samples in [-1, 1]. classifier: the frozen Classifier. reference: real test images.
      floor_images: real training images (as many as the samples). k: neighbours.

    Returns:
      {"samples": compare(...), "real_floor": compare(...), "k", "reference_n"}.

    >>> # results = evaluate(samples, classifier.load(), test_images, train_images[:len(samples)])
    """
    ref_feats, _ = classifier.apply(reference)
    return evaluate_features(*classifier.apply(images), ref_feats, *classifier.apply(floor_images), k)


def evaluate_features(fake_feats, fake_probs, ref_feats, floor_feats, floor_probs, k: int = 5) -> dict:
    """`evaluate` from features already computed (the shipped evaluator's reference and floor).

    Args:
      fake_feats, fake_probs: the samples' features and class probabilities. ref_feats: the reference's
        features. floor_feats, floor_probs: real training digits', as many as the samples. k: neighbours.

    Returns:
      As `evaluate`.

    >>> f = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    >>> p = np.full((40, 10), 0.1, np.float32)
    >>> evaluate_features(f, p, f, f, p, k=3)["samples"]["recall"]
    1.0
    """
    stats, radii = gaussian(ref_feats), knn_radii(ref_feats, k)
    return {"samples": compare(fake_feats, fake_probs, ref_feats, stats, k, radii),
            "real_floor": compare(floor_feats, floor_probs, ref_feats, stats, k, radii), "k": k,
            "reference_n": int(len(ref_feats))}


def evaluate_seeds(per_seed: list[tuple], ref_feats, floor_feats, floor_probs, k: int = 5) -> dict:
    """`evaluate_features` for several seeds' samples against one reference and one floor.

    Args:
      per_seed: one (features, class probabilities) pair per seed. ref_feats, floor_feats, floor_probs,
        k: as `evaluate_features`.

    Returns:
      {"samples": each metric's mean over seeds, "samples_se": its standard error, "per_seed": each seed's
      `compare`, "seeds", "real_floor", "k", "reference_n"}.

    >>> f = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    >>> p = np.full((40, 10), 0.1, np.float32)
    >>> r = evaluate_seeds([(f, p), (f[::-1], p)], f, f, p, k=3)
    >>> r["samples"]["recall"], r["samples_se"]["recall"]
    (1.0, 0.0)
    """
    from gan_jax.seeds import summarise

    stats, radii = gaussian(ref_feats), knn_radii(ref_feats, k)
    results = [compare(feats, probs, ref_feats, stats, k, radii) for feats, probs in per_seed]
    means, errors = summarise(results)
    return {"samples": means, "samples_se": errors, "per_seed": results, "seeds": len(results),
            "real_floor": compare(floor_feats, floor_probs, ref_feats, stats, k, radii), "k": k,
            "reference_n": int(len(ref_feats))}


def conditional(fake_feats, fake_probs, requested, ref_feats, ref_labels, floor_feats, floor_labels) -> dict:
    """A conditional GAN's metrics: whether its samples are the class asked for, and FD class by class.

    Args:
      fake_feats, fake_probs: the samples' features and class probabilities. requested: the label each
        sample was drawn for. ref_feats, ref_labels: the reference (test digits) and their labels.
      floor_feats, floor_labels: real training digits and their labels (the per-class floor).

    Returns:
      {"label_accuracy": share of samples the classifier puts in the requested class, "fd_per_class": FD of
      each class's samples to that class's reference digits, "fd_per_class_floor": the same for real digits,
      "fd_class_mean", "fd_class_mean_floor": their means over classes}.

    >>> f = np.random.default_rng(0).normal(size=(60, 3))
    >>> y = np.arange(60) % 2
    >>> r = conditional(f, np.eye(2)[y], y, f, y, f, y)
    >>> r["label_accuracy"], r["fd_class_mean"] < 1e-6
    (1.0, True)
    """
    requested, ref_labels, floor_labels = (np.asarray(a) for a in (requested, ref_labels, floor_labels))
    classes = sorted(set(requested.tolist()))
    fds, floors = [], []
    for c in classes:
        ref = gaussian(ref_feats[ref_labels == c])
        fds.append(frechet_distance(*gaussian(fake_feats[requested == c]), *ref))
        floors.append(frechet_distance(*gaussian(floor_feats[floor_labels == c]), *ref))
    return {"label_accuracy": float(np.mean(np.asarray(fake_probs).argmax(1) == requested)), "classes": classes,
            "fd_per_class": fds, "fd_per_class_floor": floors, "fd_class_mean": float(np.mean(fds)),
            "fd_class_mean_floor": float(np.mean(floors))}


def conditional_table(result: dict, label_floor: float, se: dict | None = None) -> str:
    """The printed lines of `conditional`: label accuracy beside its floor, FD per class beside its floor.

    Args:
      result: `conditional`'s output (for several seeds: the means). label_floor: the classifier's test
        accuracy. se: for several seeds, the standard errors.

    Returns:
      Text.

    >>> print(conditional_table({"label_accuracy": 0.9, "classes": [0], "fd_per_class": [2.0],
    ...     "fd_per_class_floor": [1.0], "fd_class_mean": 2.0, "fd_class_mean_floor": 1.0}, 0.99).splitlines()[0])
    label accuracy (the class asked for)        0.900      0.990
    """
    pm = lambda key, fmt, v: fmt.format(v) + ("" if se is None else " ± " + fmt.format(se[key]))  # noqa: E731
    lines = [f"{'label accuracy (the class asked for)':<38} {pm('label_accuracy', '{:.3f}', result['label_accuracy']):>10} "
             f"{label_floor:>10.3f}",
             f"{'FD per class, mean over classes':<38} {pm('fd_class_mean', '{:.2f}', result['fd_class_mean']):>10} "
             f"{result['fd_class_mean_floor']:>10.2f}"]
    per = "  ".join(f"{c}: {v:.1f}" for c, v in zip(result["classes"], result["fd_per_class"]))
    floor = "  ".join(f"{c}: {v:.2f}" for c, v in zip(result["classes"], result["fd_per_class_floor"]))
    return "\n".join(lines + [f"  FD by class: {per}", f"  real floor:  {floor}"])
