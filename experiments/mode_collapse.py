"""Mode-collapse study on ring8 and grid25: the book's GAN, the minimax game and PacGAN packing.

    python -m experiments.mode_collapse                   # 5 seeds, 20,000 iterations (~15-30 min here)
    python -m experiments.mode_collapse --seeds 2 --steps 2000 --out /tmp/mc     # a quick look

Each variant is the mixture recipe of `experiments/_mixture.py` with one change; the seeds of a variant
train together (`gan_jax.Seeds`: vmapped over their stacked states; seed s uses seed=s and data.seed=s, and
follows its single run up to float rounding). After training, 2,500 samples per seed are scored by the PacGAN protocol
(`gan_jax.mixtures`). Writes <out>.md (the table beside the published rows), <out>.json and <out>.png
(seed 0's samples for every variant). With --drs every variant gets a second row, the same trained
seeds sampled through discriminator rejection sampling (`gan_jax.rejection`): G's samples filtered by D.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments._mixture import mixture_config
from gan_jax import build, data, mixtures, rejection, run, viz, xla
from gan_jax.gan import GAN, Streams
from gan_jax.seeds import Seeds, mean_se, stack
from gan_jax.config import apply_overrides

VARIANTS = {
    "GAN (non-saturating, the book's)": [],
    "GAN (minimax)": ["gan.loss=minimax"],
    "PacGAN2": ["gan.pack=2"],
    "PacGAN3": ["gan.pack=3"],
    "PacGAN4": ["gan.pack=4"],
}
WIDE = ["model.hidden=400", "model.layers=4", "model.d_hidden=400", "model.d_layers=4"]  # PacGAN's players
STUDY = list(VARIANTS)  # the default rows; the recipe changes below (docs/evaluation.md) are opt-in with --variants
VARIANTS.update({
    "minimax + EMA": ["gan.loss=minimax", "gan.ema_decay=0.999"],
    "minimax + R1": ["gan.loss=minimax", "gan.r1_weight=0.1"],
    "minimax, 4x400 players": ["gan.loss=minimax", *WIDE],
    "minimax + top-k": ["gan.loss=minimax", "gan.top_k=0.75", "gan.top_k_decay=0.95"],
})
# PacGAN (Lin et al., NeurIPS 2018), Table 2 / GUIDE section 5: (modes, % high quality, reverse KL or None)
PUBLISHED = {
    "ring8": {"GAN": (6.3, 98.2, None), "PacGAN2": (7.9, 95.6, None), "VEEGAN": (8.0, 52.9, None)},
    "grid25": {"GAN": (17.3, 94.8, None), "PacGAN4": (24.8, 93.6, None)},
}
CHUNK = 1_000


def train_seeds(overrides: list[str], mixture: str, seeds: list[int], steps: int):
    """Trains one variant for every seed at once; returns the model and the stacked final states."""
    cfg = apply_overrides(mixture_config(mixture), [f"train.steps={steps}", *overrides])
    ds = data.load(cfg.data)
    gan = build.engine(cfg, ds.image_shape)  # a GAN, or an autoencoder for experiments.why_gan
    together = Seeds(gan, len(seeds))
    states = together.init(stack([Streams.from_seeds(s, s) for s in seeds]))
    images = jnp.asarray(ds.images)
    chunk = min(CHUNK, steps)
    advance = xla.jit(run.repeat(together.train_step, chunk), donate_argnums=0)
    for _ in range(steps // chunk):
        states, _ = advance(states, images)
    return gan, states


def score_seeds(gan: GAN, states, mixture: str, n_seeds: int, sample_seed: int = 1234, drs: bool = False):
    """Each seed's protocol scores on 2,500 samples, and the samples: G's own from a fixed z, or with
    `drs` G's samples filtered by D (`gan_jax.rejection`; each result then also holds its acceptance rate)."""
    key = jax.random.key(sample_seed)
    z = gan.noise(key, mixtures.PROTOCOL_SAMPLES)
    results, samples = [], []
    for i in range(n_seeds):
        s = jax.tree.map(lambda x: x[i], states)
        extra = {}
        if drs:
            x, extra["acceptance"] = rejection.sample(gan, s, key, mixtures.PROTOCOL_SAMPLES)
        else:
            x = np.asarray(xla.jit(gan.sample)(s, z))
        results.append({**mixtures.scores(x, mixtures.MIXTURES[mixture]), **extra})
        samples.append(x)
    return results, samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--mixtures", nargs="+", default=["ring8", "grid25"], choices=["ring8", "grid25"])
    p.add_argument("--variants", nargs="+", default=STUDY, choices=list(VARIANTS), metavar="VARIANT",
                   help="rows to train (default: the study's five); any of: " + "; ".join(VARIANTS))
    p.add_argument("--out", default="runs/mode_collapse", 
                   help="writes OUT.md, OUT.json, OUT.png (the docs' copies: --out docs/mode_collapse)")
    p.add_argument("--drs", action="store_true", help="also score every variant through discriminator rejection "
                   "sampling (a row 'VARIANT + DRS'; not for packed variants)")
    p.add_argument("--render", action="store_true", help="only rewrite OUT.md from an existing OUT.json")
    args = p.parse_args()
    if args.render:
        rows = json.loads(Path(args.out).with_suffix(".json").read_text())
        args.seeds, args.steps = len(rows[0]["seeds"]), rows[0]["steps"]
        Path(args.out).with_suffix(".md").write_text(report(rows, args))
        return
    if args.seeds < 1 or args.steps < 1:
        p.error("--seeds and --steps must be >= 1")
    seeds = list(range(args.seeds))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, figures = [], {}
    for mixture in args.mixtures:
        for name in args.variants:
            start = time.perf_counter()
            gan, states = train_seeds(VARIANTS[name], mixture, seeds, args.steps)
            scored = [(name, *score_seeds(gan, states, mixture, len(seeds)))]
            if args.drs and isinstance(gan, GAN) and gan.settings.pack == 1:
                scored.append((f"{name} + DRS", *score_seeds(gan, states, mixture, len(seeds), drs=True)))
            for label, results, samples in scored:
                modes, hq, kl = (mean_se([r[k] for r in results]) for k in ("modes", "high_quality", "reverse_kl"))
                row = {"mixture": mixture, "variant": label, "overrides": VARIANTS[name], "seeds": seeds,
                       "steps": args.steps, "per_seed": results, "modes": modes, "high_quality": hq, "reverse_kl": kl,
                       "seconds": time.perf_counter() - start}
                rows.append(row)
                figures[(mixture, label)] = samples[0]
                print(f"{mixture:7s} {label:34s} modes {modes[0]:5.2f} ± {modes[1]:.2f}  high quality "
                      f"{100 * hq[0]:5.1f} ± {100 * hq[1]:.1f}%  reverse KL {kl[0]:.3f} ± {kl[1]:.3f}  "
                      f"({row['seconds']:.0f}s)", flush=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    out.with_suffix(".md").write_text(report(rows, args))
    save_figure(figures, args.mixtures, list(dict.fromkeys(label for _, label in figures)), out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, {out.with_suffix('.png')}")


def _command(rows: list[dict], args) -> str:
    """The command that reproduces `rows` (mixtures and variants named only when not all of them)."""
    words = ["python -m experiments.mode_collapse", f"--seeds {args.seeds}", f"--steps {args.steps}"]
    mixture_names = list(dict.fromkeys(r["mixture"] for r in rows))
    variant_names = list(dict.fromkeys(r["variant"] for r in rows if r["variant"] in VARIANTS))
    if mixture_names != ["ring8", "grid25"]:
        words.append("--mixtures " + " ".join(mixture_names))
    if variant_names != STUDY:
        words.append("--variants " + " ".join(f'"{v}"' if " " in v else v for v in variant_names))
    if any(r["variant"].endswith(" + DRS") for r in rows):
        words.append("--drs")
    return " ".join(words + [f"--out {args.out}"])


def report(rows: list[dict], args) -> str:
    lines = [
        "# Mode-collapse study (PacGAN protocol)",
        "",
        f"Command: `{_command(rows, args)}`. "
        f"{args.seeds} seeds per row, mean ± standard error; 2,500 samples per seed; a sample is high quality "
        "within 3 std of its nearest mode; a mode is captured by one high-quality sample; reverse KL of the "
        "high-quality samples' mode histogram to uniform. Recipe: `experiments/_mixture.py`. Published rows: "
        "PacGAN (Lin et al. 2018), their architectures and budgets, not ours.",
        "",
        "| mixture | variant | modes | high quality (%) | reverse KL |",
        "|---|---|---|---|---|",
    ]
    for mixture in dict.fromkeys(r["mixture"] for r in rows):  # the ceiling: samples of the true mixture
        m = mixtures.MIXTURES[mixture]
        true = [mixtures.scores(mixtures.sample(m, mixtures.PROTOCOL_SAMPLES, np.random.default_rng(s))[0], m)
                for s in range(args.seeds)]
        (mo, _), (hq, hq_se), (kl, _) = (mean_se([t[k] for t in true]) for k in ("modes", "high_quality", "reverse_kl"))
        lines.append(f"| {mixture} | real data (the ceiling) | {mo:.2f} / {len(m.means)} | {100 * hq:.1f} ± {100 * hq_se:.1f} "
                     f"| {kl:.3f} |")
    for r in rows:
        m, h, k = r["modes"], r["high_quality"], r["reverse_kl"]
        variant = r["variant"]
        if "acceptance" in r["per_seed"][0]:
            variant += f" (keeps {100 * np.mean([x['acceptance'] for x in r['per_seed']]):.0f}% of G's samples)"
        kls = [x["reverse_kl"] for x in r["per_seed"]]
        kl = f"{k[0]:.3f} ± {k[1]:.3f}"
        if not np.all(np.isfinite(kls)):  # a seed without one high-quality sample has no mode histogram
            finite = [v for v in kls if np.isfinite(v)]
            kl = (f"{np.mean(finite):.3f} over {len(finite)} seeds; " if finite else "") + \
                 f"{len(kls) - len(finite)} without a high-quality sample"
        lines.append(f"| {r['mixture']} | {variant} | {m[0]:.2f} ± {m[1]:.2f} / {r['per_seed'][0]['of_modes']} | "
                     f"{100 * h[0]:.1f} ± {100 * h[1]:.1f} | {kl} |")
    for mixture, published in PUBLISHED.items():
        if mixture not in {r["mixture"] for r in rows}:
            continue
        for name, (modes, hq, _) in published.items():
            lines.append(f"| {mixture} | published: {name} | {modes} | {hq} | |")
    return "\n".join(lines) + "\n"


def save_figure(figures: dict, mixture_names, variant_names, path: Path) -> None:
    plt = viz._pyplot()
    fig, axes = plt.subplots(len(mixture_names), len(variant_names), figsize=(3.2 * len(variant_names), 3.4 * len(mixture_names)),
                             squeeze=False)
    for i, mixture in enumerate(mixture_names):
        m = mixtures.MIXTURES[mixture]
        for j, name in enumerate(variant_names):
            x = figures[(mixture, name)]
            s = mixtures.scores(x, m)
            viz.draw_points(axes[i][j], x, m.means, m.std)
            axes[i][j].set_title(f"{mixture}: {name}\n{s['modes']}/{s['of_modes']} modes, {100 * s['high_quality']:.1f}% HQ",
                                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
