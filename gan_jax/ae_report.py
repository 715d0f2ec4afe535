"""What an autoencoder run writes when it finishes: its test-set bound and the chapter-2 figures.

  ae_eval.json          the mean test-set ELBO (vae) or log-likelihood of the reconstruction (plain
                        autoencoders), in nats per example, and per-pixel error (a run of several seeds:
                        their mean and standard error at the top, each seed's report in seed<i>/)
  latent.png            the test set's codes coloured by label (a PCA projection when the latent is not 2-d)
  manifold.png          the book's 15 x 15 grid: decoded z over the inverse normal CDF of linspace(0.05, 0.95)
                        (2-d latents only)
  reconstructions.png   rows: the model's input, its reconstruction (and the target for denoise / colorize)
  interpolations.png    decoded straight lines between the codes of two test images
  samples_prior.png     decoded draws from the prior N(0, I) (vae) or from a Gaussian fitted to the test
                        codes (plain autoencoders, whose codes have no prior)

The test data is the run's data source with split=test (`gan_jax.build` loads it); binarization and
input noise of the test set are drawn once from a fixed seed, so the numbers are comparable across runs.
This is the run layer: the engine (`gan_jax.autoencode`) never touches the disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data as data_lib
from gan_jax import viz
from gan_jax.autoencode import Autoencoder, AEState
from gan_jax.seeds import Seeds, summarise

TEST_SEED = 0
MANIFOLD = 15


def test_inputs(gan: Autoencoder, images: np.ndarray, seed: int = TEST_SEED) -> tuple[jax.Array, jax.Array]:
    """(model input, target) for a whole test set, with binarization / noise drawn once from `seed`.

    Args:
      gan: the Autoencoder. images: the test images in [-1, 1]. seed: the noise seed.

    Returns:
      (inputs, targets) as device arrays.

    >>> # x_in, t = test_inputs(ae, test.images)
    """
    return gan.jitted("prepare")(jnp.asarray(images), jax.random.key(seed))


def in_batches(f, params, x, batch: int = 1000) -> np.ndarray:
    """`f(params, x)` (a jitted function of a batch) over `x` in batches, concatenated.

    Args:
      f: a function of (params, batch). params: its first argument. x: the inputs. batch: per call.

    Returns:
      A numpy array.

    >>> in_batches(lambda p, x: x * p, 2.0, np.arange(5.0), batch=2).tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    return np.concatenate([np.asarray(f(params, x[i : i + batch])) for i in range(0, len(x), batch)])


def test_bound(gan: Autoencoder, params, x_in, t, k: int = 1, seed: int = TEST_SEED, budget: int = 50_000,
               progress=None) -> np.ndarray:
    """Per-example bound on log p(t), in nats.

    Args:
      gan: the Autoencoder. params: its parameters. x_in, t: `test_inputs`. k: 1 for the ELBO, > 1 for
        the importance-weighted bound (an estimate of log p(t) that tightens with k). seed: the samples'.
      budget: decoder passes per batch. progress: called as progress(done, total).

    Returns:
      N bounds (numpy).

    >>> # elbo = test_bound(ae, state.params, *test_inputs(ae, test.images)).mean()
    """
    b = max(1, min(len(t), budget // k))
    key = jax.random.key(seed + 1)
    out = []
    for i in range(0, len(t), b):
        xs, ts = x_in[i : i + b], t[i : i + b]
        pad = b - len(ts)
        if pad:  # one compiled shape
            xs, ts = (jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) for a in (xs, ts))
        out.append(np.asarray(gan.jitted("bound")(params, xs, ts, k, jax.random.fold_in(key, i)))[: b - pad])
        if progress is not None:
            progress(min(i + b, len(t)), len(t))
    return np.concatenate(out)


def codes(gan: Autoencoder, params, x_in) -> np.ndarray:
    """The code (q's mean for a vae) of every input.

    Args:
      gan: the Autoencoder. params: its parameters. x_in: model inputs.

    Returns:
      N x z_dim numpy array.

    >>> # z = codes(ae, state.params, x_in)
    """
    return in_batches(gan.jitted("code"), params, x_in)


def _images(gan: Autoencoder, t: jax.Array, channels: int) -> np.ndarray:
    """Targets/inputs in [0, 1] -> images in [-1, 1] with the data's channels (grey repeated)."""
    x = np.asarray(gan.to_data(t))
    return np.repeat(x, channels, axis=-1) if x.shape[-1] != channels else x


def finish(gan: Autoencoder, state: AEState, test: data_lib.Dataset, run_dir: Path) -> dict:
    """Measures a finished run on `test` (the test split) and writes ae_eval.json and the figures.

    Args:
      gan: the Autoencoder. state: its final state. test: the test Dataset. run_dir: where to write.

    Returns:
      The ae_eval.json content.

    >>> # finish(ae, state, data.load(DataConfig(source="embedded", split="test")), Path("runs/x"))
    """
    x_in, t = test_inputs(gan, test.images)
    bounds = test_bound(gan, state.params, x_in, t)
    name = "test_elbo" if gan.is_variational(x_in) else "test_log_likelihood"
    result = {name: float(bounds.mean()), "n_test": int(len(bounds)), "test_data": test.source, "step": int(state.step),
              "units": "nats per example (summed over pixels / dimensions)"}
    recon = in_batches(gan.jitted("reconstruction"), state.params, x_in)
    result["test_mse"] = float(np.mean((gan.to_target(recon) - np.asarray(t)) ** 2))  # per pixel, target units
    (run_dir / "ae_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"test set ({test.source}, {len(bounds)} examples): {name.replace('_', ' ')} {result[name]:.2f} nats, "
          f"reconstruction MSE {result['test_mse']:.4f} per pixel -> {run_dir / 'ae_eval.json'}", flush=True)
    if test.images.ndim == 4:
        write_figures(gan, state.params, x_in, t, test.labels, run_dir, test.images.shape[-1])
        names = [f for f in FIGURES if (run_dir / f).is_file()]
        print(f"figures: {', '.join(names)} in {run_dir}", flush=True)
    return result


def finish_seeds(seeds: Seeds, state, test: data_lib.Dataset, run_dir: Path) -> dict:
    """`finish` for every seed of a `Seeds` run (each into run_dir/seed<i>/), and ae_eval.json at the top
    with every number as the mean over seeds, its standard error (`se`) and each seed's (`per_seed`).

    Args:
      seeds: the Seeds of an Autoencoder. state: their stacked final state. test: the test Dataset.
      run_dir: where to write.

    Returns:
      The top ae_eval.json content.

    >>> # finish_seeds(gj.Seeds(ae, 5), states, test, Path("runs/x"))
    """
    per_seed = []
    for i in range(seeds.n):
        folder = run_dir / f"seed{i}"
        folder.mkdir(exist_ok=True)
        per_seed.append(finish(seeds.engine, seeds.member(state, i), test, folder))
    means, errors = summarise(per_seed)
    result = {**means, "seeds": seeds.n, "se": errors, "per_seed": per_seed}
    (run_dir / "ae_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    name = next(k for k in ("test_elbo", "test_log_likelihood") if k in means)
    print(f"{seeds.n} seeds: {name.replace('_', ' ')} {means[name]:.2f} ± {errors[name]:.2f} nats (mean ± s.e.), "
          f"reconstruction MSE {means['test_mse']:.4f} ± {errors['test_mse']:.4f} -> {run_dir / 'ae_eval.json'}",
          flush=True)
    return result


FIGURES = ("latent.png", "manifold.png", "reconstructions.png", "interpolations.png", "samples_prior.png")


def write_figures(gan: Autoencoder, params, x_in, t, labels: np.ndarray, out: Path, channels: int) -> None:
    """The chapter-2 figures: latent.png, manifold.png (2-d latents), reconstructions.png,
    interpolations.png, samples_prior.png.

    Args:
      gan: the Autoencoder. params: its parameters. x_in, t: test inputs and targets. labels: their
        labels. out: the folder. channels: the data's channels (grey inputs are repeated to match).

    Returns:
      None.

    >>> # write_figures(ae, state.params, x_in, t, test.labels, Path("runs/x"), 1)
    """
    z = codes(gan, params, x_in)
    save_latent(z, labels, out / "latent.png")
    decode = gan.jitted("generate")
    if z.shape[1] == 2:  # the book's manifold figure
        axis = np.asarray(jax.scipy.special.ndtri(jnp.linspace(0.05, 0.95, MANIFOLD)))
        grid = np.array([[x, y] for y in axis[::-1] for x in axis], np.float32)
        viz.save_grid(np.asarray(decode(params, grid)), out / "manifold.png", cols=MANIFOLD)
    n = 10
    rows = [_images(gan, x_in[:n], channels), np.asarray(gan.jitted("reconstruction")(params, x_in[:n]))]
    if gan.settings.task != "reconstruct":
        rows.append(_images(gan, t[:n], channels))
    viz.save_grid(np.concatenate(rows), out / "reconstructions.png", cols=n)
    a, b, steps = z[:8], z[8:16], np.linspace(0.0, 1.0, n)[None, :, None]
    line = (a[:, None] * (1 - steps) + b[:, None] * steps).reshape(-1, z.shape[1])
    viz.save_grid(np.asarray(decode(params, line)), out / "interpolations.png", cols=n)
    key = jax.random.key(TEST_SEED)
    if gan.is_variational(x_in):
        prior = np.asarray(gan.noise(key, 64))
    else:  # a plain autoencoder's codes have no prior: decode a Gaussian fitted to them
        mean, cov = z.mean(0), np.cov(z, rowvar=False).reshape(z.shape[1], z.shape[1])
        prior = np.random.default_rng(TEST_SEED).multivariate_normal(mean, cov, 64).astype(np.float32)
    viz.save_grid(np.asarray(decode(params, prior)), out / "samples_prior.png", cols=8)


def save_latent(z: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    """The codes coloured by label; projected on their top two principal components if not 2-d.

    Args:
      z: N x Z codes. labels: N labels. path: the .png.

    Returns:
      The path.

    >>> # save_latent(codes(ae, state.params, x_in), test.labels, Path("latent.png"))
    """
    what = "latent"
    if z.shape[1] != 2:
        zc = z - z.mean(0)
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        z, what = zc @ vt[:2].T if z.shape[1] > 1 else np.c_[zc, np.zeros(len(zc))], "latent (top 2 principal components)"
    plt = viz._pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set(title=f"test set in the {what}", xlabel="z[0]", ylabel="z[1]")
    return viz.save_figure(plt, fig, path)
