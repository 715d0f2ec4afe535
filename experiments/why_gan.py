"""Why GAN (GANs in Action, ch. 2, section 8): a VAE and a GAN on multimodal data, where do they put
their samples?

    python -m experiments.why_gan                     # 3 seeds, 20,000 iterations each (~10 min here)
    python -m experiments.why_gan --seeds 1 --steps 2000 --out /tmp/why    # a quick look

Data: the 1-D bimodal mixture (modes at -2 and +2, std 0.2) and ring8 (8 modes on the unit circle, std
0.01), as in the mode-collapse study. Both models use the mixture recipe of `experiments/_mixture.py`
(MLPs of 128 units, Adam 1e-3 b1 0.5 with a cosine decay, batch 100, 20,000 iterations):
  GAN   the book's non-saturating GAN and the minimax game (3 x 128 G, 2 x 128 D, z of the data's dimension)
  VAE   3 x 128 ReLU encoder and decoder, a latent of the data's dimension, a Gaussian decoder whose std is
        the modes' std (the sharpest the data allows); its samples are decoded prior draws (the decoder's mean)
For 2,500 samples of each: the share within 3 std of a true mode (high quality) and the modes reached,
mean ± standard error over seeds. Writes OUT.md, OUT.json and OUT.png (seed 0's samples).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


from experiments.mode_collapse import mean_se, score_seeds, train_seeds
from gan_jax import mixtures, viz

MODELS = {
    "GAN (non-saturating, the book's)": lambda m: [],
    "GAN (minimax)": lambda m: ["gan.loss=minimax"],
    "VAE": lambda m: ["model.name=vae", "ae.likelihood=gaussian", f"ae.sigma={mixtures.MIXTURES[m].std}",
                      "ae.activation=relu"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--out", default="runs/why_gan", 
                   help="writes OUT.md, OUT.json, OUT.png (the docs' copies: --out docs/why_gan)")
    args = p.parse_args()
    if args.seeds < 1 or args.steps < 1:
        p.error("--seeds and --steps must be >= 1")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds))
    rows, figures = [], {}
    for mixture in ("bimodal1d", "ring8"):
        for name, overrides in MODELS.items():
            start = time.perf_counter()
            model, states = train_seeds(overrides(mixture), mixture, seeds, args.steps)
            results, samples = score_seeds(model, states, mixture, len(seeds))
            hq, modes = mean_se([r["high_quality"] for r in results]), mean_se([r["modes"] for r in results])
            rows.append({"mixture": mixture, "model": name, "overrides": overrides(mixture), "steps": args.steps,
                         "seeds": seeds, "per_seed": results, "high_quality": hq, "modes": modes})
            figures[(mixture, name)] = samples[0]
            print(f"{mixture:9s} {name:34s} high quality {100 * hq[0]:5.1f} ± {100 * hq[1]:.1f}%  modes "
                  f"{modes[0]:.1f} ± {modes[1]:.1f}  ({time.perf_counter() - start:.0f}s)", flush=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "# Why GAN: where a VAE and a GAN put their samples",
        "",
        f"Command: `python -m experiments.why_gan --seeds {args.seeds} --steps {args.steps} --out {args.out}`. "
        "2,500 samples per seed; high quality = within 3 std of the nearest true mode; mean ± standard error "
        f"over {args.seeds} seeds. Samples of seed 0: `{out.with_suffix('.png').name}`.",
        "",
        "| data | model | high quality (%) | modes reached |",
        "|---|---|---|---|",
    ]
    for r in rows:
        m = mixtures.MIXTURES[r["mixture"]]
        lines.append(f"| {r['mixture']} | {r['model']} | {100 * r['high_quality'][0]:.1f} ± {100 * r['high_quality'][1]:.1f} "
                     f"| {r['modes'][0]:.1f} ± {r['modes'][1]:.1f} / {len(m.means)} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plt = viz._pyplot()
    fig, axes = plt.subplots(2, len(MODELS), figsize=(4 * len(MODELS), 7.5), squeeze=False)
    for i, mixture in enumerate(("bimodal1d", "ring8")):
        m = mixtures.MIXTURES[mixture]
        for j, name in enumerate(MODELS):
            x = figures[(mixture, name)]
            viz.draw_points(axes[i][j], x, m.means, m.std)
            axes[i][j].set_title(f"{mixture}: {name}\n{100 * mixtures.scores(x, m)['high_quality']:.1f}% within 3 std",
                                 fontsize=9)
    viz.save_figure(plt, fig, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
