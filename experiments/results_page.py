"""Writes docs/results.md: every experiment's current numbers beside their floors and published anchors,
each with its command, from the JSON files the runs wrote (nothing on the page is typed by hand).

    python -m experiments.results_page            # rewrite docs/results.md
    python -m experiments.results_page --check    # exit 1 when docs/results.md differs from what the JSONs give

Sources: the cards of the models shipped in the package (`gan_jax/assets/pretrained/*/card.json`: the
output of `gan-jax eval` and the autoencoder's test report), the `gan-jax eval` outputs kept in docs/
for runs not shipped, `gan-jax likelihood` outputs under docs/results/, and the studies' JSON
(`experiments.mode_collapse`, `experiments.why_gan`, `experiments.autoencoder_uses`). To update a row, rerun
its command, put its JSON where the row reads it (or ship the model), and run this script.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PRETRAINED = ROOT / "gan_jax" / "assets" / "pretrained"
DATA = "data.source=npz data.path=/path/to/mnist.npz"

# (model, what was trained, where its `gan-jax eval` output lives, the command that made the run)
MNIST = [
    ("MLP GAN (ch3, the book's)", "20,000 iterations", ("card", "mnist_gan"), f"gan-jax train mnist_gan --set {DATA}"),
    ("DCGAN (ch4, the book's)", "20,000 iterations", ("card", "mnist_dcgan"),
     f"gan-jax train mnist_dcgan --set {DATA}"),
    ("DCGAN (the book's), EMA of G", "20,000 iterations", ("docs", "dcgan_eval_20k.json", "mnist_dcgan+ema@20000"),
     f"gan-jax train mnist_dcgan --set {DATA} gan.ema_decay=0.999"),
    ("DCGAN tuned (R1 0.1 + EMA)", "20,000 iterations", ("card", "mnist_dcgan_tuned"),
     f"gan-jax train mnist_dcgan_tuned --set {DATA}"),
    ("VAE (ch2, 2-d latent), prior samples", "30,000 steps (50 epochs)", ("card", "mnist_vae"),
     f"gan-jax train mnist_vae --set {DATA}"),
]
# (model, training, likelihood JSON under docs/results/, published NLL (IWAE paper, 3,280 epochs), command)
LIKELIHOOD = [
    ("VAE (k = 1)", "100 epochs", "mnist_vae50.likelihood_k5000.json", 86.76,
     f"gan-jax train mnist_vae50 --set {DATA} --run-dir R; gan-jax likelihood R --k 5000 --n 2000"),
    ("IWAE (k = 50)", "10 epochs (30,000 steps)", "mnist_iwae50.likelihood_k5000.json", 84.78,
     f"gan-jax train mnist_vae50 --set {DATA} ae.k=50 train.steps=30000 train.fuse=100 --run-dir R; "
     "gan-jax likelihood R --k 5000 --n 2000"),
]
# (players, budget, model, its eval JSON under docs/results/, the command): conditional GANs, full MNIST, one
# seed, batch 32 (the chapter's); each player family at one budget, its unconditional baseline first
DCGAN_STEPS = f"{DATA} train.steps=12000"
MLP_STEPS = f"{DATA} model.name=mlp train.steps=20000"
CONDITIONAL = [
    ("DCGAN", "12,000", "unconditional DCGAN (the baseline)", "dcgan_b32_12k.eval.json",
     f"gan-jax train mnist_dcgan --set {DCGAN_STEPS} train.batch_size=32"),
    ("DCGAN", "12,000", "CGAN, the book's conditioning", "dcgan_cgan_12k.eval.json", f"gan-jax train mnist_cgan --set {DATA}"),
    ("DCGAN", "12,000", "CGAN, projection D", "dcgan_cgan_projection_12k.eval.json",
     f"gan-jax train mnist_cgan_projection --set {DATA}"),
    ("DCGAN", "12,000", "ACGAN", "dcgan_acgan_12k.eval.json", f"gan-jax train mnist_acgan --set {DATA}"),
    ("MLP", "20,000", "unconditional MLP GAN (the baseline)", "mlp_gan_b32.eval.json",
     f"gan-jax train mnist_gan --set {DATA} train.batch_size=32 train.steps=20000"),
    ("MLP", "20,000", "CGAN, the book's conditioning", "mlp_cgan.eval.json", f"gan-jax train mnist_cgan --set {MLP_STEPS}"),
    ("MLP", "20,000", "CGAN, projection D", "mlp_cgan_projection.eval.json",
     f"gan-jax train mnist_cgan_projection --set {MLP_STEPS}"),
    ("MLP", "20,000", "ACGAN", "mlp_acgan.eval.json", f"gan-jax train mnist_acgan --set {MLP_STEPS}"),
]
# (model, its `gan-jax eval` JSON under docs/results/, the command): the semi-supervised GAN, 100 labels
SEMI = "--seeds 5 --set " + DATA
PAPER_RECIPE = ("""train.steps=134000 'model.kwargs={"data_init": true, "head_noise": true}' """
                "gan.loss=experiments.mnist_sgan:salimans optim.decay=constant data.sampling=epoch "
                "gan.d_ema_decay=0.9999 train.fuse=100")
SEMI_SUPERVISED = [
    ("semi-supervised GAN, the paper's recipe (Salimans et al.'s G loss, data-dependent init, constant rate), "
     "tested with D's moving average", "134,000", "mnist_sgan_salimans_134k.eval.json",
     f"gan-jax train mnist_sgan {SEMI} {PAPER_RECIPE}"),
    ("semi-supervised GAN (non-saturating G), tested with D's moving average", "20,000", "mnist_sgan.eval.json",
     f"gan-jax train mnist_sgan {SEMI} gan.d_ema_decay=0.9999"),
    ("semi-supervised GAN (feature matching G)", "60,000", "mnist_sgan_fm_60k.eval.json",
     f"gan-jax train mnist_sgan {SEMI} train.steps=60000 gan.loss=experiments.mnist_sgan:feature_matching"),
    ("the same D on the 100 labels alone (the baseline)", "5,000", "mnist_sgan_supervised.eval.json",
     f"gan-jax train mnist_sgan_supervised {SEMI} train.steps=5000"),
]
SALIMANS_ERRORS = (93, 6.5)  # test errors of 10,000, 100 labels, feature matching (Salimans et al. 2016, table 1)
BOOK_BASELINE = 0.692  # the book's notebook: the supervised-only baseline's test accuracy on 100 labels
MIXTURE_STUDIES = ["mode_collapse.json", "mode_collapse_ring8_pacgan2_200k.json", "mode_collapse_grid25_minimax_300k.json"]


def _user_text(text: str) -> str:
    """A command as a user would type it (the data path a user has, not the developers')."""
    return text.replace("../shared/data/mnist.npz", "/path/to/mnist.npz")


def _eval_of(source: tuple) -> dict:
    if source[0] == "card":
        card = json.loads((PRETRAINED / source[1] / "card.json").read_text())
        return {**card["eval.json"], "card": card}
    return json.loads((DOCS / source[1]).read_text())[source[2]]


def _pm(results: dict, errors: dict | None, key: str, fmt: str) -> str:
    value = fmt.format(results[key])
    return value if not errors or key not in errors else f"{value} ± {fmt.format(errors[key])}"


def mnist_table() -> list[str]:
    floor = None
    rows = []
    for model, budget, source, command in MNIST:
        e = _eval_of(source)
        s, se, f = e["samples"], e.get("samples_se"), e["real_floor"]
        floor = floor or f
        seeds = e.get("seeds", 1)
        where = f"`pretrained:{source[1]}`" if source[0] == "card" else f"`docs/{source[1]}` [{source[2]}]"
        rows.append(f"| {model} | {budget}, {seeds} seed{'s' * (seeds > 1)} | {_pm(s, se, 'fd', '{:.2f}')} | "
                    f"{_pm(s, se, 'precision', '{:.3f}')} | {_pm(s, se, 'recall', '{:.3f}')} | "
                    f"{_pm(s, se, 'modes', '{:.0f}')} | `{command}` | {where} |")
    head = [
        "## MNIST samples (chapters 2-4)",
        "",
        "10,000 samples against the 10,000 MNIST test digits on the features of the classifier shipped in the",
        "package (`gan-jax eval RUN`; test accuracy 99.07%). The floor is 10,000 real training digits measured the",
        "same way: what a perfect generator would score. No published number is comparable (Inception FIDs are",
        "another network); the book reports losses, not sample quality (ch3 ends at D loss 0.37, accuracy 83%).",
        "The rows read from docs/dcgan_eval_20k.json were scored with a classifier of the same recipe before the",
        "shipped one (the MLP GAN scores FD 208.44, recall 0.417 with both), on runs made on another machine: the",
        "book's DCGAN scored 6.49 there, 8.88 as shipped, the tuned one 2.91 there, 3.28 as shipped (the same",
        "recipes and seeds; GAN training amplifies the machines' float rounding). They are replaced as their",
        "models ship.",
        "",
        "| model | training | FD | precision | recall | classes | command | numbers from |",
        "|---|---|---|---|---|---|---|---|",
        f"| real digits (the floor) | | {_fmt(floor, 'fd', '{:.2f}')} | {_fmt(floor, 'precision', '{:.3f}')} | "
        f"{_fmt(floor, 'recall', '{:.3f}')} | {floor['modes']} | | |",
    ]
    vae = json.loads((PRETRAINED / "mnist_vae" / "card.json").read_text())["ae_eval.json"]
    tail = ["", f"The book's VAE: test ELBO {vae['test_elbo']:.1f} nats ({vae['n_test']:,} test digits; "
                "`pretrained:mnist_vae`'s card)."]
    return head + rows + tail


def _fmt(d: dict, key: str, fmt: str) -> str:
    return fmt.format(d[key])


def likelihood_table() -> list[str]:
    lines = [
        "## VAE likelihood (the IWAE paper's protocol)",
        "",
        "Dynamically binarized MNIST, 50-d latent, 2 x 200 tanh layers each side; test NLL by the k = 5,000",
        "importance-weighted bound on the first 2,000 test digits (`experiments/mnist_vae50.py`). Published:",
        "Burda et al. 2016, after 3,280 epochs (ours: the budgets shown; `docs/autoencoders.md`).",
        "",
        "| model | training | test NLL (nats) | published | command |",
        "|---|---|---|---|---|",
    ]
    for model, budget, name, published, command in LIKELIHOOD:
        r = json.loads((DOCS / "results" / name).read_text())
        lines.append(f"| {model} | {budget} | {r['nll']:.2f} ± {r['nll_se']:.2f} | {published:.2f} | `{command}` |")
    return lines


def conditional_table() -> list[str]:
    rows = [(pl, it, m, json.loads((DOCS / "results" / f).read_text()), c) for pl, it, m, f, c in CONDITIONAL
            if (DOCS / "results" / f).is_file()]
    lines = [
        "## Conditional GANs (chapter 8)",
        "",
        "The experiments' DCGAN players (`mnist_cgan`, `mnist_cgan_projection`, `mnist_acgan` as shipped:",
        "12,000 iterations of batch 32, the chapter's) and the chapter-3 MLP players made conditional",
        "(`model.name=mlp`, 20,000 iterations of batch 32), each beside the same players unconditional at the",
        "same budget; Adam as each experiment sets it, full MNIST, one seed. `gan-jax eval RUN` asks for every",
        "digit equally (1,000 samples each). Label accuracy: the share of samples the shipped classifier puts",
        "in the class asked for; its floor is the classifier's test accuracy. FD by class: each digit's",
        "samples against that digit's test images, beside real training digits of the class (about 1,000",
        "each). Grids (one row per digit): `docs/figures/dcgan_cgan_12k.png`, `dcgan_cgan_projection_12k.png`,",
        "`dcgan_acgan_12k.png`; `mlp_cgan_20k_step_020000.png`, `..._cgan_projection_...`, `..._acgan_...`.",
        "The target, label accuracy >= 99% with an FD no worse than the unconditional players' at the same",
        "budget, is met by ACGAN on the DCGAN players (99.0%, FD 11.9 against 15.2), with a classifier taught",
        "by real digits only; the paper's, which also learns the fakes, collapsed (10%). The projection D",
        "scores the best FD at 98.0%; the book's CGAN 96.3% (`docs/notes/2026-12-02-conditional-dcgans-and-fault-trials.md`).",
        "",
        "| players | iterations | model | FD (floor) | recall (floor) | label accuracy (floor) | FD by class, mean (floor) | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for players, iterations, model, e, command in rows:
        s, f, c = e["samples"], e["real_floor"], e.get("conditional")
        cond = (f"{c['label_accuracy']:.3f} ({e['classifier_test_accuracy']:.3f}) | {c['fd_class_mean']:.1f} "
                f"({c['fd_class_mean_floor']:.2f})") if c else "(unconditional) |"
        lines.append(f"| {players} | {iterations} | {model} | {s['fd']:.1f} ({f['fd']:.2f}) | {s['recall']:.3f} "
                     f"({f['recall']:.3f}) | {cond} | `{command}` |")
    return lines if rows else []


def semi_supervised_table() -> list[str]:
    by_file = {f: json.loads((DOCS / "results" / f).read_text()) for _, _, f, _ in SEMI_SUPERVISED
               if (DOCS / "results" / f).is_file()}
    rows = [(m, it, by_file[f], c) for m, it, f, c in SEMI_SUPERVISED if f in by_file]
    if not rows:
        return []
    errors, spread = SALIMANS_ERRORS
    ns, fm = by_file.get("mnist_sgan.eval.json"), by_file.get("mnist_sgan_fm_60k.eval.json")
    said = []
    if ns and ns["d_classifier"].get("weights") == "ema":
        d = ns["d_classifier"]
        gap = 100 * abs(d["test_accuracy"] - d["live_test_accuracy"])
        said.append(f"D's moving average (`gan.d_ema_decay=0.9999`, the paper's test-time model) scores within "
                    f"{max(gap, 0.01):.2f} points of the trained weights at 20,000.")
    paper = by_file.get("mnist_sgan_salimans_134k.eval.json")
    if paper:
        per = ", ".join(f"{100 * a:.2f}" for a in paper["d_classifier"]["test_accuracy_per_seed"])
        said.append(f"The paper's recipe, subset by subset at 134,000: {per}% (the last subset's largest "
                    f"confusion is 4s called 9: 80 of its 215 errors, down from 174 at 84,000).")
    if fm:
        per = ", ".join(f"{a:.3f}" for a in fm["d_classifier"]["test_accuracy_per_seed"])
        said.append(f"Three times the budget with feature matching did not help either (the subsets' spread is "
                    f"larger than any gain: {per}).")
    lines = [
        "## The semi-supervised GAN (chapter 7): its D as a classifier, 100 labels",
        "",
        "10 labelled training digits per class, the other training digits unlabelled; D's test accuracy on",
        "the 10,000 MNIST test digits, mean ± standard error over 5 label subsets trained at once (seed i",
        "picks its subset from data.seed + i; the baseline sees the same subsets). The model and budget:",
        "`experiments/mnist_sgan.py` (D 500-250-250 with Gaussian noise and weight norm, batch 100 + 100",
        "labelled, Adam 3e-3 on a cosine). The baseline has the supervised term only; its loss is 0.04 by",
        "iteration 1,000 (0.0002 at 5,000), hence its shorter budget. G's samples are scored as in the MNIST",
        "table: a semi-supervised D makes a poor teacher for G (Salimans et al. note the same trade-off).",
        "The target, 98.5%, is reached by the paper's recipe (its G loss, data-dependent initialisation, noise",
        "before the class layer, a constant rate, epochs of the data, D's moving average) at 134,000 of its",
        "180,000 iterations, taken from a 180,000-iteration run (nothing in this recipe depends on",
        "train.steps, so the command's shorter run is that run up to there; it took single steps until",
        "35,723 and fused 100 after; fuse 0 and 100 give equal states over 4,000 iterations of this",
        "recipe, not checked over the whole run). The shipped defaults' 20,000 iterations are not enough",
        "for it. The same run went on to the paper's 180,000: 98.73% ± 0.11 (127 ± 11 errors) by its own",
        "scores.jsonl, which the notes record; its directory was lost before `gan-jax eval` ran on it.",
        *textwrap.wrap(" ".join(said), 104),
        "The paper's own recipe at 6,000 iterations, and why one row moved between two days' code (a",
        "rounding-level change; the subsets' mean at 20,000 is known to about ±2 points):",
        "`docs/notes/2026-12-03-sgan-recipes.md`.",
        "",
        "| model | iterations | test accuracy | errors of 10,000 | G's FD (floor) | command |",
        "|---|---|---|---|---|---|",
    ]
    for model, iterations, e, command in rows:
        d, s, f = e["d_classifier"], e["samples"], e["real_floor"]
        acc, se = 100 * d["test_accuracy"], 100 * d["test_accuracy_se"]
        live = (f" (trained weights: {100 * d['live_test_accuracy']:.2f}% ± {100 * d['live_test_accuracy_se']:.2f})"
                if d.get("weights") == "ema" else "")
        lines.append(f"| {model} | {iterations} | {acc:.2f}% ± {se:.2f}{live} | {(1 - d['test_accuracy']) * d['test_images']:.0f} ± "
                     f"{d['test_accuracy_se'] * d['test_images']:.0f} | "
                     f"{s['fd']:.1f} ({f['fd']:.2f}) | `{command}` |")
    lines += [f"| published: Salimans et al. 2016, feature matching, permutation-invariant MNIST | 180,000 | "
              f"{100 - errors / 100:.2f}% ± {spread / 100:.3f} | {errors} ± {spread} | | |",
              f"| published: the book's notebook, supervised-only baseline | | {100 * BOOK_BASELINE:.1f}% | | | |"]
    return lines


def _mean_pm(pair, scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(scale * pair[0])} ± {fmt.format(scale * pair[1])}"


def mixture_table() -> list[str]:
    from experiments.mode_collapse import PUBLISHED

    lines = [
        "## Mode collapse on 2-D mixtures (the PacGAN protocol)",
        "",
        "2,500 samples per seed; a sample is high quality within 3 std of its nearest mode; a mode is captured",
        "by one high-quality sample. Mean ± standard error over seeds. Published: PacGAN (Lin et al. 2018),",
        "their architectures and budgets. The real data's ceiling is 99.0% high quality. Each command retrains",
        "its row alone (the studies' own commands and their DRS rows: `docs/mode_collapse*.md`).",
        "",
        "| mixture | variant | iterations | seeds | modes | high quality (%) | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in MIXTURE_STUDIES:
        for r in json.loads((DOCS / name).read_text()):
            if "acceptance" in r["per_seed"][0]:
                continue  # the DRS rows: docs/mode_collapse.md
            variant = f'"{r["variant"]}"' if " " in r["variant"] else r["variant"]
            command = (f"python -m experiments.mode_collapse --mixtures {r['mixture']} --variants {variant} "
                       f"--seeds {len(r['seeds'])} --steps {r['steps']} --out runs/{Path(name).stem}")
            lines.append(f"| {r['mixture']} | {r['variant']} | {r['steps']:,} | {len(r['seeds'])} | "
                         f"{_mean_pm(r['modes'])} / {r['per_seed'][0]['of_modes']} | "
                         f"{_mean_pm(r['high_quality'], 100, '{:.1f}')} | `{command}` |")
    for mixture, published in PUBLISHED.items():
        for name, (modes, hq, _) in published.items():
            lines.append(f"| {mixture} | published: {name} | | | {modes} | {hq} | |")
    return lines


def why_gan_table() -> list[str]:
    lines = ["## A VAE and a GAN on multimodal data (`experiments.why_gan`)", "",
             "Where each model puts its samples (high quality: within 3 std of a true mode).", "",
             "| data | model | iterations | seeds | high quality (%) | modes |", "|---|---|---|---|---|---|"]
    for r in json.loads((DOCS / "why_gan.json").read_text()):
        lines.append(f"| {r['mixture']} | {r['model']} | {r['steps']:,} | {len(r['seeds'])} | "
                     f"{_mean_pm(r['high_quality'], 100, '{:.1f}')} | {_mean_pm(r['modes'], 1, '{:.1f}')} |")
    return lines + ["", "Command: `python -m experiments.why_gan --seeds 3 --steps 20000 --out docs/why_gan`."]


def autoencoder_uses_table() -> list[str]:
    u = json.loads((DOCS / "autoencoder_uses.json").read_text())
    a, r, d = u["anomaly"], u["retrieval"]["precision_at_10"], u["denoising"]
    lines = ["## What autoencoders are for (`experiments.autoencoder_uses`, full MNIST)", "",
             "| use | ours | anchor |", "|---|---|---|",
             f"| one-class anomaly detection, mean AUROC over the 10 digits | {a['mean_auroc']:.1f}% | "
             f"Deep SVDD {a['deep_svdd_mean_auroc']:.1f}% (Ruff et al. 2018) |"]
    lines += [f"| retrieval, precision at 10: {name} | {value:.1f}% | |" for name, value in r.items()]
    lines += [f"| denoising {name}: PSNR noisy -> denoised | {v['psnr_noisy']:.1f} -> {v['psnr_denoised']:.1f} dB | |"
              for name, v in d.items() if isinstance(v, dict)]
    return lines + ["", f"Command: `{_user_text(a['command'])}`."]


def render() -> str:
    """The page's text, from the JSON files.

    Args:
      none.

    Returns:
      The markdown of docs/results.md.

    >>> render().startswith("# Results")
    True
    """
    parts = [
        ["# Results", "",
         "Today's numbers for every experiment, each beside its floor or published anchor and with the command",
         "that made it. Generated by `python -m experiments.results_page` from the runs' JSON files; the dated",
         "research logs behind them are under `docs/notes/`. Data: full MNIST (`/path/to/mnist.npz`, 60,000",
         "training and 10,000 test digits), one seed unless the row says more."],
        mnist_table(), conditional_table(), semi_supervised_table(), likelihood_table(), mixture_table(), why_gan_table(),
        autoencoder_uses_table(),
    ]
    parts = [p for p in parts if p]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only compare docs/results.md with what the JSONs give")
    p.add_argument("--out", default=str(DOCS / "results.md"))
    args = p.parse_args(argv)
    text = render()
    out = Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} is not what the JSON files give; run: python -m experiments.results_page", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
