"""What autoencoders are for (GANs in Action, ch. 2), each with a number: anomaly detection, retrieval,
denoising, colorization and generation.

    python -m experiments.autoencoder_uses --set data.source=npz data.path=/path/to/mnist.npz   # ~15 min here
    python -m experiments.autoencoder_uses --only anomaly retrieval --steps-scale 0.1 --out /tmp/uses  # a quick look

  pca         the linear autoencoder (experiments/mnist_linear_ae.py, 16-d) against PCA: principal angles
              between its decoder's column space and the top-16 principal subspace of the training digits
  anomaly     the one-class protocol (Ruff et al. 2018): an autoencoder trained on one digit's training
              images scores all 10,000 test digits by their reconstruction's negative log-likelihood;
              AUROC of "not this digit" per digit and the mean (Deep SVDD: 94.8% mean)
  retrieval   the 32-d codes of the book's autoencoder as a search index: for each test digit, its 10
              nearest training codes; precision@10 = the share with the query's label (beside raw pixels
              and a 32-d PCA)
  denoising   an autoencoder trained to map corrupted digits to clean ones, per noise model: PSNR of the
              noisy input and of the output against the clean digit
  colorize    colored MNIST (each digit in its class's colour, `data.colors=by_class`): a conv autoencoder (128-d code)
              from the luminance to the colours; PSNR of the grey input and of the output against the colour
              digit, and how often the output's dominant colour is the class's
  generation  decoded latent noise: the VAE's prior and the plain autoencoder's codes (a fitted Gaussian)

Every model is `experiments/mnist_ae.py`'s recipe with the stated changes, trained by the engine in
`gan_jax.autoencode`, seed 0. Writes OUT.md and OUT.json and the figures OUT_*.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments import mnist_ae
from gan_jax import ae_report, build, run, viz, xla
from gan_jax import data as data_lib
from gan_jax.autoencode import Autoencoder
from gan_jax.config import apply_overrides

DEEP_SVDD_MEAN_AUROC = 94.8  # Ruff et al. 2018, one-class MNIST, mean over digits
USES = ("pca", "anomaly", "retrieval", "denoising", "colorize", "generation")
NOISES = {"gaussian 0.5": ["ae.noise=gaussian", "ae.noise_level=0.5"],
          "masking 0.5": ["ae.noise=masking", "ae.noise_level=0.5"],
          "salt & pepper 0.2": ["ae.noise=salt_pepper", "ae.noise_level=0.2"]}


class Study:
    def __init__(self, overrides: list[str], steps_scale: float, out: Path):
        self.overrides, self.scale, self.out = overrides, steps_scale, out

    def config(self, changes: list[str], steps: int):
        return apply_overrides(mnist_ae.get_config(), [*self.overrides, *changes,
                                                       f"train.steps={max(100, int(steps * self.scale) // 100 * 100)}"])

    def data(self, cfg, split: str) -> data_lib.Dataset:
        return data_lib.load(dataclasses.replace(cfg.data, split=split, limit=0))

    def fit(self, cfg, images: np.ndarray) -> tuple[Autoencoder, object]:
        model = build.engine(cfg, images.shape[1:])
        state, x = model.init(build.streams(cfg)), jnp.asarray(images)
        advance = xla.jit(run.repeat(model.train_step, cfg.train.fuse), donate_argnums=0)
        for _ in range(cfg.train.steps // cfg.train.fuse):
            state, metrics = advance(state, x)
        print(f"    trained {cfg.model.name} ({cfg.ae.task}) on {len(images)} images, {cfg.train.steps} steps: "
              f"loss {float(metrics['loss'][-1]):.2f}", flush=True)
        return model, state

    # -- the uses ------------------------------------------------------------------------------------

    def pca(self) -> dict:
        from experiments import mnist_linear_ae

        cfg = apply_overrides(mnist_linear_ae.get_config(), [*self.overrides, "optim.decay=cosine",
                                                             f"train.steps={max(100, int(20000 * self.scale) // 100 * 100)}"])
        train = self.data(cfg, "train")
        model, state = self.fit(cfg, train.images)
        x = model.to_target(train.images).reshape(len(train.images), -1).astype(np.float64)
        top = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][: cfg.model.z_dim].T
        q = np.linalg.qr(np.asarray(state.params["decoder"]["kernel"][...], np.float64).T)[0]
        angles = np.degrees(np.arccos(np.clip(np.linalg.svd(q.T @ top, compute_uv=False), -1, 1)))
        print(f"  principal angles to the top-{cfg.model.z_dim} PCA subspace: max {angles.max():.2f}, "
              f"median {np.median(angles):.2f} degrees", flush=True)
        return {"latent": cfg.model.z_dim, "steps": cfg.train.steps, "principal_angles_deg": sorted(angles.tolist())}

    def anomaly(self) -> dict:
        cfg = self.config([], 3000)
        test = self.data(cfg, "test")
        aurocs = {}
        for digit in range(10):
            cfg_d = apply_overrides(cfg, [f"data.digit={digit}"])
            model, state = self.fit(cfg_d, self.data(cfg_d, "train").images)
            x_in, t = ae_report.test_inputs(model, test.images)
            score = -ae_report.test_bound(model, state.params, x_in, t)  # reconstruction NLL: high = anomalous
            aurocs[digit] = 100 * auroc(score, test.labels != digit)
            print(f"  digit {digit}: AUROC {aurocs[digit]:.1f}%", flush=True)
        return {"auroc_per_digit": aurocs, "mean_auroc": float(np.mean(list(aurocs.values()))),
                "deep_svdd_mean_auroc": DEEP_SVDD_MEAN_AUROC, "steps_per_digit": cfg.train.steps}

    def retrieval(self) -> dict:
        cfg = self.config([], 12000)
        train, test = self.data(cfg, "train"), self.data(cfg, "test")
        model, state = self.fit(cfg, train.images)
        self.generation_ae = (model, state, test)
        db = ae_report.codes(model, state.params, model.jitted("prepare")(jnp.asarray(train.images), jax.random.key(0))[0])
        q = ae_report.codes(model, state.params, ae_report.test_inputs(model, test.images)[0])
        pixels_db, pixels_q = train.images.reshape(len(train.images), -1), test.images.reshape(len(test.images), -1)
        mean = pixels_db.mean(0)
        basis = np.linalg.svd(pixels_db[:20000] - mean, full_matrices=False)[2][: cfg.model.z_dim].T
        result = {}
        for name, (a, b) in {"autoencoder codes (32-d)": (db, q), "raw pixels (784-d)": (pixels_db, pixels_q),
                             "PCA (32-d)": ((pixels_db - mean) @ basis, (pixels_q - mean) @ basis)}.items():
            result[name] = 100 * precision_at_k(a, train.labels, b, test.labels, 10)
            print(f"  {name}: precision@10 {result[name]:.1f}%", flush=True)
        return {"precision_at_10": result, "queries": len(q), "database": len(db)}

    def denoising(self) -> dict:
        result = {}
        for name, changes in NOISES.items():
            cfg = self.config(["ae.task=denoise", "model.z_dim=64", *changes], 6000)
            model, state = self.fit(cfg, self.data(cfg, "train").images)
            test = self.data(cfg, "test")
            x_in, t = ae_report.test_inputs(model, test.images)
            out = model.to_target(ae_report.in_batches(model.jitted("reconstruction"), state.params, x_in))
            result[name] = {"psnr_noisy": psnr(x_in, t), "psnr_denoised": psnr(out, t)}
            print(f"  {name}: PSNR noisy {result[name]['psnr_noisy']:.2f} dB -> denoised "
                  f"{result[name]['psnr_denoised']:.2f} dB", flush=True)
            viz.save_grid(np.concatenate([model.to_data(np.asarray(x_in[:10])), model.to_data(np.asarray(out[:10])),
                                          model.to_data(np.asarray(t[:10]))]),
                          self.figure(f"denoising_{name.split()[0]}"), cols=10)
        return result

    def colorize(self) -> dict:
        cfg = self.config(["ae.task=colorize", "data.colors=by_class", "model.name=conv_ae", "model.z_dim=128",
                           "train.fuse=1"], 4000)  # XLA:CPU runs conv gradients slowly inside lax.scan
        model, state = self.fit(cfg, self.data(cfg, "train").images)
        test = self.data(cfg, "test")
        x_in, t = ae_report.test_inputs(model, test.images)
        out = model.to_target(ae_report.in_batches(model.jitted("reconstruction"), state.params, x_in))
        grey = jnp.repeat(x_in, 3, axis=-1)
        hits = dominant_colour(np.asarray(out), np.asarray(x_in)) == test.labels
        result = {"psnr_grey": psnr(grey, t), "psnr_colorized": psnr(out, t), "colour_accuracy": 100 * float(hits.mean())}
        print(f"  PSNR grey {result['psnr_grey']:.2f} dB -> colorized {result['psnr_colorized']:.2f} dB; dominant colour "
              f"right for {result['colour_accuracy']:.1f}% of test digits", flush=True)
        viz.save_grid(np.concatenate([model.to_data(np.asarray(grey[:10])), model.to_data(np.asarray(out[:10])),
                                      model.to_data(np.asarray(t[:10]))]), self.figure("colorize"), cols=10)
        return result

    def generation(self) -> dict:
        if not hasattr(self, "generation_ae"):
            self.retrieval()
        model, state, test = self.generation_ae
        z = ae_report.codes(model, state.params, ae_report.test_inputs(model, test.images)[0])
        rng = np.random.default_rng(0)
        fitted = rng.multivariate_normal(z.mean(0), np.cov(z, rowvar=False), 64).astype(np.float32)
        viz.save_grid(np.asarray(model.jitted("generate")(state.params, fitted)), self.figure("generation_ae"), cols=8)
        cfg = apply_overrides(self.config([], 30000), ["model.name=vae", "model.z_dim=2"])
        vae, vstate = self.fit(cfg, self.data(cfg, "train").images)
        viz.save_grid(np.asarray(vae.jitted("generate")(vstate.params, vae.noise(jax.random.key(0), 64))),
                      self.figure("generation_vae"), cols=8)
        return {"figures": [self.figure("generation_ae").name, self.figure("generation_vae").name]}

    def figure(self, name: str) -> Path:
        return self.out.with_name(f"{self.out.name}_{name}.png")


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for the `positive` class (Mann-Whitney, ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(db: np.ndarray, db_labels, queries: np.ndarray, q_labels, k: int, chunk: int = 500) -> float:
    """Mean share of each query's k nearest (Euclidean) database items that share its label."""
    db_j, labels_j = jnp.asarray(db, jnp.float32), jnp.asarray(db_labels)
    sq = jnp.sum(db_j**2, axis=1)

    @jax.jit
    def hits(q, ql):
        d = sq[None, :] - 2 * q @ db_j.T  # |q|^2 is the same for every item of a row
        _, idx = jax.lax.top_k(-d, k)
        return jnp.mean(labels_j[idx] == ql[:, None], axis=1)

    out = [hits(jnp.asarray(queries[i : i + chunk], jnp.float32), jnp.asarray(q_labels[i : i + chunk]))
           for i in range(0, len(queries), chunk)]
    return float(jnp.mean(jnp.concatenate(out)))


def psnr(x, clean) -> float:
    """Mean over images of 10 log10(1 / MSE), pixels in [0, 1]."""
    x, clean = np.asarray(x, np.float64), np.asarray(clean, np.float64)
    mse = np.mean((x - clean) ** 2, axis=tuple(range(1, x.ndim)))
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def dominant_colour(rgb: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """The class whose palette colour is nearest (in direction) to the mean colour of each image's
    brightest pixels."""
    mask = grey[..., 0] > 0.5 * grey[..., 0].max(axis=(1, 2), keepdims=True)
    mean = (rgb * mask[..., None]).sum((1, 2)) / np.maximum(mask.sum((1, 2))[:, None], 1)
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)  # noqa: E731
    return np.argmax(unit(mean) @ unit(data_lib.PALETTE).T, axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="applied to every model, e.g. data.source=npz data.path=mnist.npz")
    p.add_argument("--only", nargs="+", choices=USES, default=list(USES))
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every training budget (quick looks)")
    p.add_argument("--out", default="runs/autoencoder_uses", 
                   help="writes OUT.md, OUT.json and figures (the docs' copies: --out docs/autoencoder_uses)")
    args = p.parse_args()
    if args.steps_scale <= 0:
        p.error("--steps-scale must be > 0")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    study = Study(args.overrides, args.steps_scale, out)
    study.config([], 100)  # a bad --set fails here, before any training
    results = {"command": "python -m experiments.autoencoder_uses " + " ".join(
        (["--set", *args.overrides] if args.overrides else []) + (["--only", *args.only] if args.only != list(USES) else [])
        + ([f"--steps-scale {args.steps_scale}"] if args.steps_scale != 1 else []) + [f"--out {args.out}"])}
    path = out.with_suffix(".json")
    kept = json.loads(path.read_text()) if path.exists() and args.only != list(USES) else {}
    for use in args.only:  # OUT.json/.md are rewritten after each use, keeping the other uses' earlier results
        start = time.perf_counter()
        print(f"{use}:", flush=True)
        kept[use] = {**getattr(study, use)(), "seconds": time.perf_counter() - start, "command": results["command"]}
        path.write_text(json.dumps(kept, indent=2) + "\n")
        out.with_suffix(".md").write_text(report(kept))
    print(f"wrote {out.with_suffix('.md')}, {path}")


def report(r: dict) -> str:
    commands = sorted({u["command"] for u in r.values() if isinstance(u, dict) and "command" in u})
    lines = ["# What autoencoders are for", "", "Made by " + "; ".join(f"`{c}`" for c in commands)
             + " (seed 0; recipes in `experiments/autoencoder_uses.py`).", ""]
    if "pca" in r:
        angles = r["pca"]["principal_angles_deg"]
        lines += ["## The linear autoencoder is PCA", "",
                  f"Principal angles between the {r['pca']['latent']}-d linear autoencoder's decoder subspace and the "
                  f"top-{r['pca']['latent']} principal subspace of the training digits ({r['pca']['steps']} Adam steps): "
                  f"median {np.median(angles):.2f}°, largest {max(angles):.2f}° (0° = the same subspace).", ""]
    if "anomaly" in r:
        a = r["anomaly"]
        lines += ["## Anomaly detection (one-class MNIST)", "",
                  "| digit | " + " | ".join(str(d) for d in range(10)) + " | mean | Deep SVDD mean |",
                  "|---" * 12 + "|---|",
                  "| AUROC (%) | " + " | ".join(f"{v:.1f}" for v in a["auroc_per_digit"].values())
                  + f" | **{a['mean_auroc']:.1f}** | {a['deep_svdd_mean_auroc']} |", ""]
    if "retrieval" in r:
        q, db = r["retrieval"]["queries"], r["retrieval"]["database"]
        lines += [f"## Retrieval ({q:,} test queries against the {db:,} training digits)", "",
                  "| representation | precision@10 (%) |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in r["retrieval"]["precision_at_10"].items()] + [""]
    if "denoising" in r:
        lines += ["## Denoising (PSNR against the clean test digits)", "", "| noise | noisy input (dB) | denoised (dB) |",
                  "|---|---|---|"]
        lines += [f"| {k} | {v['psnr_noisy']:.2f} | {v['psnr_denoised']:.2f} |" for k, v in r["denoising"].items()
                  if isinstance(v, dict)] + [""]
    if "colorize" in r:
        c = r["colorize"]
        lines += ["## Colorization (colored MNIST, luminance -> colour)", "",
                  "| grey input PSNR (dB) | colorized PSNR (dB) | dominant colour right (%) |", "|---|---|---|",
                  f"| {c['psnr_grey']:.2f} | {c['psnr_colorized']:.2f} | {c['colour_accuracy']:.1f} |", ""]
    if "generation" in r:
        lines += ["## Generation", "", "Decoded latent noise: " + ", ".join(f"`{f}`" for f in r["generation"]["figures"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
