"""The `gan-jax` command.

    gan-jax train mnist_gan [--set train.steps=300 ...] [--run-dir DIR] [--resume] [--seeds 5]
    gan-jax train path/to/my_experiment.py [...]  # a file with a get_config()
    gan-jax sample RUN_DIR --n 1000 --out samples.npy [--seed 0] [--weights auto|live|ema] [--seed-index I]
    gan-jax sample pretrained:mnist_gan --n 64 --out grid.png   # a model shipped in the package
    gan-jax sample CGAN_RUN --n 10 --label all --out grid.png     # a conditional GAN: one row per digit
    gan-jax config mnist_gan [--set ...]          # print the resolved config as JSON
    gan-jax classifier [--out DIR] [--set data.source=npz data.path=mnist.npz ...]
    gan-jax eval RUN_DIR_OR_SAMPLES.npy [--classifier DIR] [--n 10000] [--weights auto|live|ema] [--json OUT]
                                                  # default: the classifier and reference shipped in the package;
                                                  # a run of several seeds: every metric as mean ± s.e.
    gan-jax likelihood VAE_RUN_DIR [--k 5000] [--n 10000]     # importance-sampled test NLL
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_DISK_FULL = 75  # EX_TEMPFAIL: the run stopped at its last good checkpoint; free space and --resume
WEIGHTS_ARG = dict(default="auto",  # checked by runs.weights_used, the one list of the choices
                   help="G's weights: auto (the moving average when the run keeps one, else the trained "
                        "weights), live (the trained weights) or ema (the moving average)")


TRUST_HELP = ("run the code that built the run's engine (its engine.json names a module or file and function, "
              "from gan_jax.recipe): only for a run you trust")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("gan-jax")
    except metadata.PackageNotFoundError:  # run from a clone that is not installed
        return "(not installed)"


def _experiment_names() -> list[str]:
    """The experiments `train` runs, found without importing them (the studies have no get_config)."""
    folder = Path(__file__).resolve().parent.parent / "experiments"
    try:
        import experiments

        folder = Path(experiments.__file__).parent
    except ImportError:
        pass
    return sorted(f.stem for f in folder.glob("[!_]*.py") if "\ndef get_config(" in f.read_text())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gan-jax", description="Train and sample GANs (JAX/Flax).")
    p.add_argument("--version", action="version", version=f"gan-jax {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    def add_config_args(cmd):
        cmd.add_argument("experiment", help="an experiment in experiments/ (e.g. mnist_gan), or a .py file with a "
                                            "get_config()")
        cmd.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                         help="override a config value, e.g. --set train.steps=300 data.source=embedded")

    train = sub.add_parser("train", help="train an experiment into a run directory",
                           epilog=f"experiments: {', '.join(_experiment_names())}")
    add_config_args(train)
    train.add_argument("--run-dir", help="where the run is written (default runs/<experiment>-<time>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its newest good checkpoint")
    train.add_argument("--seeds", type=int, default=None, metavar="N",
                       help="train N independent seeds together in one compiled call (train.seeds=N; seed i uses "
                            "seed+i and data.seed+i); one run directory with per-seed grids and metrics")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="one process of a multi-host run (jax.distributed, set up from the environment: "
                            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; docs/devices.md); every "
                            "process is started with the same command and --run-dir")

    config = sub.add_parser("config", help="print an experiment's resolved config as JSON")
    add_config_args(config)

    sample = sub.add_parser("sample", help="export generated images from a run's newest checkpoint")
    sample.add_argument("run_dir", help="a run directory, or pretrained:NAME (a model shipped in the package)")
    sample.add_argument("--n", type=int, required=True, help="number of images")
    sample.add_argument("--out", required=True, help="output .npy file (N x H x W x C float32 in [-1, 1]) or "
                                                      ".png (a grid)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--weights", **WEIGHTS_ARG)
    sample.add_argument("--label", default=None, metavar="L",
                        help="a conditional GAN's class: one label (7), a list (1,3,5) or all; --n images of each, "
                             "grouped by label (a .png: one row per label)")
    sample.add_argument("--trust", action="store_true", help=TRUST_HELP)
    sample.add_argument("--seed-index", type=int, default=None, metavar="I",
                        help="in a run trained with --seeds: only seed I's model (default: every seed's; a .npy "
                             "is then S x N x H x W x C, a .png one grid per seed)")
    tr = sub.add_parser("translate", help="translate images with a trained translator (cyclegan, pix2pix)")
    tr.add_argument("run_dir", help="a translator's run directory, or pretrained:NAME")
    tr.add_argument("--in", dest="inputs", required=True, metavar="PATH",
                    help="a folder of PNG/JPEG images, one image, or a .npy (N x H x W x C in [-1, 1])")
    tr.add_argument("--out", required=True, metavar="PATH", help="a folder (one PNG per input, same names), a .png "
                    "(one image, or a grid of rows input -> translated -> back) or a .npy")
    tr.add_argument("--direction", default="a2b", choices=["a2b", "b2a"], help="a2b (default) or b2a")
    tr.add_argument("--trust", action="store_true", help=TRUST_HELP)
    clf = sub.add_parser("classifier", help="train the MNIST classifier the evaluator uses")
    clf.add_argument("--out", default=None, help="where to save it (default runs/mnist_classifier)")
    clf.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                     help="e.g. data.source=npz data.path=mnist.npz epochs=3 seed=0")

    ev = sub.add_parser("eval", help="score generated images against real test data with the classifier")
    ev.add_argument("source", help="a run directory (sampled from its newest checkpoint) or a .npy of images")
    ev.add_argument("--classifier", default=None, help="a classifier made by gan-jax classifier (default: the one "
                                                      "shipped in the package, with its reference features)")
    ev.add_argument("--n", type=int, default=10_000, help="images to sample from a run (default 10000)")
    ev.add_argument("--k", type=int, default=5, help="neighbours for precision/recall/density/coverage (default 5)")
    ev.add_argument("--seed", type=int, default=0, help="noise seed when sampling a run (default 0)")
    ev.add_argument("--weights", **WEIGHTS_ARG)
    ev.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                    help="reference data (default: the shipped reference of MNIST's test digits, or the given "
                         "classifier's data), e.g. data.source=npz data.path=mnist.npz")
    ev.add_argument("--trust", action="store_true", help=TRUST_HELP)
    ev.add_argument("--json", default=None, help="where to write the results (default: beside the input)")
    data = sub.add_parser("data", help="get a dataset once, on a machine with internet (tfds)")
    data.add_argument("action", choices=["fetch"], help="fetch: download and prepare it with tfds")
    data.add_argument("name", nargs="?", default="mnist", help="a tfds dataset: mnist (default), fashion_mnist, ...")
    data.add_argument("--data-dir", default="", help="where tfds keeps it (default ~/tensorflow_datasets)")
    lik = sub.add_parser("likelihood", help="a VAE run's test-set NLL by importance sampling (IWAE estimator)")
    lik.add_argument("run_dir")
    lik.add_argument("--k", type=int, default=5000, help="importance samples per test example (default 5000)")
    lik.add_argument("--n", type=int, default=0, help="use the first N test examples (default all)")
    lik.add_argument("--seed", type=int, default=0, help="seed of the importance samples (default 0)")
    return p


def _train(args) -> int:
    import experiments
    from gan_jax import parallel, run, runs
    from gan_jax import config as config_lib

    if args.distributed:
        if not args.run_dir:
            raise run.RunError("--distributed needs --run-dir: a directory every process can reach (a shared "
                               "file system), the same on each")
        parallel.initialize_distributed()
    if args.seeds is not None:
        if args.seeds < 1:
            raise run.RunError(f"--seeds must be >= 1, got {args.seeds}")
        if args.resume:
            raise run.RunError("--seeds is fixed when a run starts; --resume continues its seeds (drop --seeds)")
        args.overrides = [*args.overrides, f"train.seeds={args.seeds}"]
    if args.resume:
        if not args.run_dir:
            raise run.RunError("--resume needs --run-dir: the run to continue")
        saved = runs.load_run_config(args.run_dir)
        asked = experiments.get_config(args.experiment).experiment
        if saved.experiment != asked:
            raise run.RunError(f"{args.run_dir} is a run of {saved.experiment!r}, not {asked!r}")
    try:
        if args.resume:
            outcome = runs.resume(args.run_dir, args.overrides, progress=not args.no_progress)
        else:
            cfg = config_lib.apply_overrides(experiments.get_config(args.experiment), args.overrides)
            run_dir = args.run_dir or runs.default_run_dir(cfg.experiment)
            outcome = runs.start(cfg, run_dir, progress=not args.no_progress)
    except run.DiskFull as e:
        print(f"gan-jax train: {e}\nresume with: gan-jax train {args.experiment} --run-dir "
              f"{args.run_dir or run_dir} --resume", file=sys.stderr)
        return EXIT_DISK_FULL
    code = 0 if outcome.signum is None else 128 + outcome.signum
    if not parallel.primary():
        return code
    last = outcome.last
    summary = f"{outcome.reason} at step {outcome.step}"
    if last:
        summary += ": " + ", ".join(f"{name} {last[name]:.4f}" for name in outcome.headline if name in last)
    print(summary)
    wrote = [f"last sample grid: {outcome.last_grid}"] if outcome.last_grid else []
    wrote += [f"curves: {outcome.run_dir / 'curves.png'}"] if (outcome.run_dir / "curves.png").is_file() else []
    print(f"run directory: {outcome.run_dir}" + (f"  ({'; '.join(wrote)})" if wrote else ""))
    if outcome.signum is not None:
        print(f"resume with: gan-jax train {args.experiment} --run-dir {outcome.run_dir} --resume")
    return code


def _config(args) -> int:
    import experiments
    from gan_jax import build
    from gan_jax import config as config_lib

    cfg = config_lib.apply_overrides(experiments.get_config(args.experiment), args.overrides)
    build.check(cfg)
    print(config_lib.to_json(cfg), end="")
    return 0


def _sample(args) -> int:
    import numpy as np

    from gan_jax import run, runs
    from gan_jax.seeds import count

    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise run.RunError(f"--out {out} must end in .npy (the images) or .png (a grid of them)")
    if not out.parent.is_dir():
        raise run.RunError(f"--out {out}: folder {out.parent} does not exist")
    loaded = runs.load_run(args.run_dir, trust=args.trust)
    labels, cols = _labels(args, loaded), None
    n = args.n
    if labels is not None:
        cols, labels = args.n, np.repeat(labels, args.n)
        n = len(labels)
    images = runs.sample(args.run_dir, n, args.seed, weights=args.weights, seed_index=args.seed_index,
                          labels=labels, loaded=loaded)
    seeds = args.seed_index is None and bool(count(loaded.engine))  # then S x N x ...
    shape = images.shape[2 if seeds else 1:]
    what = "images" if len(shape) == 3 else f"{shape[0]}-d points" if len(shape) == 1 else "samples"
    count = f"{images.shape[1]} {what} from each of {images.shape[0]} seeds" if seeds else f"{len(images)} {what}"
    if out.suffix == ".png":
        from gan_jax import viz

        if len(shape) != 3:
            raise run.RunError(f"--out {out}: a grid needs images, and this run's samples are {what} (shape "
                               f"{shape}); write them to a .npy instead (its curves.png and samples/ show them)")
        name = loaded.config.experiment if loaded.config else Path(args.run_dir).name
        viz.save_grid(images, out, cols, title=f"{name} step {loaded.step:,}, seed {args.seed}")
        rows = f", one row per label ({', '.join(str(v) for v in dict.fromkeys(labels.tolist()))})" if cols else ""
        print(f"wrote {'one grid per seed' if seeds else 'a grid'} of {count} to {out}{rows}")
        return 0
    tmp = out.with_name(f".{out.name}.tmp.npy")
    np.save(tmp, images.astype(np.float32), allow_pickle=False)
    os.replace(tmp, out)
    span = "in [-1, 1]" if len(shape) == 3 else f"in [{images.min():.3g}, {images.max():.3g}]"
    print(f"wrote {count}{f' of shape {shape}' if len(shape) != 1 else ''} {span} to {out}")
    return 0


def _translate(args) -> int:
    from gan_jax import run, runs, translate_io

    loaded = runs.load_run(args.run_dir, trust=args.trust)
    if not getattr(loaded.engine, "transforms", None):
        raise run.RunError(f"{args.run_dir} is not a translator (it has no a2b/b2a transforms); gan-jax sample draws "
                           "from a generator")
    name = loaded.config.experiment if loaded.config else Path(args.run_dir).name
    print(translate_io.translate(loaded.engine, loaded.state, args.inputs, args.out, args.direction,
                                 title=f"{name} step {loaded.step:,}, {args.direction}"))
    return 0


def _labels(args, loaded):
    """--label as a list of ints (None without it); "all" is every class of the run's model."""
    if args.label is None:
        return None
    from gan_jax import run, runs

    if args.label == "all":
        k = runs.classes_of(loaded.engine)
        if not k:
            raise run.RunError(f"--label picks the class of a conditional GAN; {args.run_dir} is unconditional")
        return list(range(k))
    try:
        return [int(v) for v in args.label.split(",")]
    except ValueError:
        raise run.RunError(f"--label must be a class number (7), a list (1,3,5) or all, got {args.label!r}") from None


def _classifier(args) -> int:
    from gan_jax.metrics import classifier

    cfg = classifier.config_from_overrides(args.overrides)
    clf = classifier.train(cfg, args.out or classifier.DEFAULT_DIR)
    print(f"saved to {args.out or classifier.DEFAULT_DIR}: test accuracy {100 * clf.info['test_accuracy']:.2f}%")
    return 0


def _eval(args) -> int:
    import dataclasses
    import json

    import numpy as np

    from gan_jax import build, pretrained, run, rundir, runs
    from gan_jax import config as config_lib
    from gan_jax import data as data_lib
    from gan_jax.config import DataConfig
    from gan_jax.metrics import classifier, evaluate, frozen
    from gan_jax.seeds import summarise

    if args.n <= 0 or args.k <= 0:
        raise run.RunError(f"--n and --k must be > 0, got {args.n} and {args.k}")
    source = Path(args.source)
    weights = requested = loaded = None
    trained_on = None
    if source.is_dir():
        recorded = runs.recorded_data(source)
        shape = recorded["image_shape"]
        if len(shape) != 3:
            raise run.RunError(f"{source} samples {shape[0]}-d points, not images: the evaluator scores images with an "
                               f"MNIST classifier; a mixture run's own measures (modes, high quality, reverse KL) are "
                               f"in its metrics.jsonl and curves.png")
        trained_on = recorded["source"]
    if pretrained.is_name(args.source) or source.is_dir():
        loaded = runs.load_run(args.source, trust=args.trust)
        if getattr(loaded.engine, "transforms", None):
            return _eval_translator(args, loaded)
        k = runs.classes_of(loaded.engine)
        requested = np.arange(args.n) % k if k else None  # a conditional GAN: every class equally
    if pretrained.is_name(args.source):
        images = runs.sample(args.source, args.n, args.seed, weights=args.weights, labels=requested, loaded=loaded)
        weights = "auto"
        out = Path(args.json) if args.json else Path(f"{args.source[len(pretrained.PREFIX):]}.eval.json")
    elif source.is_dir():
        weights = runs.weights_of(loaded, args.weights)  # checked before sampling
        images = runs.sample(source, args.n, args.seed, weights=weights, labels=requested, loaded=loaded)
        out = Path(args.json) if args.json else source / "eval.json"
    elif args.weights != "auto":
        raise run.RunError(f"--weights {args.weights} picks a run's weights; {source} is not a run directory")
    elif source.suffix == ".npy" and source.is_file():
        try:
            images = np.load(source, allow_pickle=False)
        except ValueError as e:
            raise evaluate.InputError(f"{source}: {e}") from None
        out = Path(args.json) if args.json else source.with_suffix(".eval.json")
    else:
        raise run.RunError(f"{source} is neither a run directory nor a .npy file")
    try:
        clf = frozen.load() if args.classifier is None else classifier.load(args.classifier)
    except FileNotFoundError as e:
        raise run.RunError(str(e)) from None
    seeds = np.ndim(images) == 5  # a run trained with --seeds: S x N x H x W x C
    sets = [evaluate.as_images(x, clf.image_shape) for x in (images if seeds else [images])]
    n = len(sets[0])
    if n <= args.k:
        raise evaluate.InputError(f"{n} images to evaluate: the k-NN metrics need more than --k {args.k} (and FD "
                                  f"needs a spread); evaluate more images (--n, or a larger .npy) or lower --k")
    which = f" (G's {weights} weights)" if weights else ""
    each = f" from each of {len(sets)} seeds" if seeds else ""
    if args.classifier is None and not args.overrides:  # the shipped reference: no data needed
        ref = frozen.reference()
        n_floor = min(n, len(ref["floor_features"]))
        ref_feats, floor_feats, floor_probs = (ref["reference_features"], ref["floor_features"][:n_floor],
                                               ref["floor_probs"][:n_floor])
        ref_labels, floor_labels = ref["reference_labels"], ref["floor_labels"][:n_floor]
        print(f"evaluating {n} images{each}{which} with {frozen.NAME} against {clf.info['reference']} "
              f"({len(ref_feats)} images); real floor: {n_floor} of its training digits")
    else:
        data_cfg = config_lib.from_dict(clf.info.get("config", {}).get("data", {}), DataConfig)
        data_cfg = config_lib.apply_overrides(config_lib.Config(data=data_cfg), args.overrides).data
        reference = data_lib.load(dataclasses.replace(data_cfg, split="test", limit=0))
        floor = data_lib.load(dataclasses.replace(data_cfg, split="train", limit=n))
        print(f"evaluating {n} images{each}{which} against {reference.source} ({len(reference.images)} images); "
              f"real floor: {len(floor.images)} images of {floor.source}")
        ref_feats, _ = clf.apply(reference.images)
        floor_feats, floor_probs = clf.apply(floor.images)
        ref_labels, floor_labels = reference.labels, floor.labels
    features = [clf.apply(x) for x in sets]
    if seeds:
        results = evaluate.evaluate_seeds(features, ref_feats, floor_feats, floor_probs, args.k)
    else:
        results = evaluate.evaluate_features(*features[0], ref_feats, floor_feats, floor_probs, args.k)
    if requested is not None:  # conditional: the class asked for, and FD class by class
        per_set = [evaluate.conditional(f, p, requested, ref_feats, ref_labels, floor_feats, floor_labels)
                   for f, p in features]
        results["conditional"], cond_se = summarise(per_set) if seeds else (per_set[0], None)
        if seeds:
            results["conditional_se"], results["conditional_per_seed"] = cond_se, per_set
    results.update(input=str(source), weights=weights, classifier=str(args.classifier or "shipped"),
                   classifier_test_accuracy=clf.info["test_accuracy"])
    if trained_on:
        results["trained_on"] = trained_on
    print(evaluate.table(results["samples"], results["real_floor"], results.get("samples_se")))
    if trained_on and trained_on.startswith("embedded"):
        print(EMBEDDED_EVAL_NOTE)
    if requested is not None:
        print(evaluate.conditional_table(results["conditional"], clf.info["test_accuracy"],
                                         results.get("conditional_se")))
    if source.is_dir() and loaded.config is not None:  # what the run scores beyond samples (a D that classifies)
        more, lines = build.results(loaded.config, loaded.engine, loaded.state)
        results.update(more)
        for line in lines:
            print(line)
    rundir.write_atomic(out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _eval_translator(args, loaded) -> int:
    """`gan-jax eval` of a translator: the digit pairs' translation metrics (`gan_jax.metrics.translation`)."""
    import dataclasses
    import json

    from gan_jax import build, pretrained, run, rundir
    from gan_jax import config as config_lib

    if loaded.config is None or not loaded.config.data.pair:
        raise run.RunError(f"{args.source}: translation metrics need a digit pair (data.pair mnist_m, uci or edges), "
                           "where a classifier can tell whether the digit survived; look at its samples/ instead")
    cfg = config_lib.apply_overrides(loaded.config, args.overrides)  # e.g. where the digits are on this machine
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, source="auto" if cfg.data.source == "embedded" else cfg.data.source))
    results, lines = build.results(cfg, loaded.engine, loaded.state)
    for line in lines:
        print(line)
    out = Path(args.json) if args.json else (Path(f"{args.source[len(pretrained.PREFIX):]}.eval.json")
                                             if pretrained.is_name(args.source) else Path(args.source) / "eval.json")
    rundir.write_atomic(out, json.dumps({**results, "input": str(args.source), "step": loaded.step}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


EMBEDDED_EVAL_NOTE = ("note: this run trained on the 4,000 embedded digits, not full MNIST; the README's numbers "
                      "train on all 60,000 and score better (FD lower, recall higher): docs/data.md says how to "
                      "get them")


def _data(args) -> int:
    from gan_jax import data

    got = data.fetch(args.name, args.data_dir)
    state = "was already prepared" if got["already"] else "downloaded and prepared"
    where = f" data.data_dir={args.data_dir}" if args.data_dir else ""
    sizes = ", ".join(f"{v} {k}" for k, v in got.items() if k not in ("name", "data_dir", "already"))
    print(f"{got['name']} {state} under {got['data_dir']}: {sizes} images; train on it with --set "
          f"data.source=tfds data.name={got['name']}{where} (data.source=auto, the default, finds mnist there)")
    return 0


def _likelihood(args) -> int:
    import dataclasses
    import json
    import time

    from gan_jax import ae_report, run, rundir, runs
    from gan_jax import data as data_lib

    if args.k <= 0 or args.n < 0:
        raise run.RunError(f"--k must be > 0 and --n >= 0, got {args.k} and {args.n}")
    cfg = runs.load_run_config(args.run_dir)
    if cfg.model.name != "vae":
        raise run.RunError(f"{args.run_dir} is a run of model.name={cfg.model.name}; the likelihood needs a VAE "
                           "(model.name=vae)")
    if cfg.train.seeds > 1:
        raise run.RunError(f"{args.run_dir} trained {cfg.train.seeds} seeds; the likelihood takes a run of one seed "
                           "(not yet per seed: its test-set ELBO per seed is in ae_eval.json)")
    test = data_lib.load(dataclasses.replace(cfg.data, split="test", limit=args.n))
    model, state, _, step = runs.load_run(args.run_dir)
    x_in, t = ae_report.test_inputs(model, test.images, args.seed)
    start = time.perf_counter()

    def progress(done, total):
        if done == total or done % max(1, total // 10) < max(1, 50_000 // args.k):
            print(f"  {done}/{total} test examples ({time.perf_counter() - start:.0f}s)", flush=True)

    elbo = ae_report.test_bound(model, state.params, x_in, t, 1, args.seed)
    bound = ae_report.test_bound(model, state.params, x_in, t, args.k, args.seed, progress=progress)
    result = {"run_dir": str(args.run_dir), "step": int(step), "test_data": test.source, "n_test": int(len(bound)),
              "k": args.k, "nll": float(-bound.mean()), "nll_se": float(bound.std(ddof=1) / len(bound) ** 0.5),
              "neg_elbo": float(-elbo.mean()), "seconds": time.perf_counter() - start}
    out = Path(args.run_dir) / f"likelihood_k{args.k}.json"
    rundir.write_atomic(out, json.dumps(result, indent=2) + "\n")
    print(f"test NLL (k = {args.k}): {result['nll']:.2f} ± {result['nll_se']:.2f} nats; -ELBO {result['neg_elbo']:.2f} "
          f"nats ({len(bound)} examples of {test.source}, step {step}) -> {out}")
    return 0


def _experiment_first(argv: list[str]) -> list[str]:
    """`train --set a=1 b=2 mnist_gan` as `train mnist_gan --set a=1 b=2`: --set takes every KEY=VALUE after
    it, so a word without "=" in its run is the experiment the user put after it."""
    if len(argv) < 2 or argv[0] not in ("train", "config"):
        return argv
    in_set = False
    for i, token in enumerate(argv[1:], 1):
        if token.startswith("-"):
            in_set = token == "--set"
        elif in_set and "=" not in token:
            return [argv[0], token, *argv[1:i], *argv[i + 1:]]
    return argv


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Warnings as the command's users read them: one line, no source location."""
    return f"gan-jax: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = _parser().parse_args(_experiment_first(list(sys.argv[1:] if argv is None else argv)))
    warnings.formatwarning = _warning_line
    from gan_jax.config import ConfigError
    from gan_jax.data import DataError
    from gan_jax.metrics.evaluate import InputError
    from gan_jax.parallel import DistributedError
    from gan_jax.recipes import UntrustedCode
    from gan_jax.run import NonFiniteLoss, RunError

    commands = {"train": _train, "config": _config, "sample": _sample, "translate": _translate,
                "classifier": _classifier, "eval": _eval,
                "data": _data, "likelihood": _likelihood}
    try:
        return commands[args.command](args)
    except (ConfigError, DataError, RunError, InputError, DistributedError, UntrustedCode) as e:
        print(f"gan-jax {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLoss as e:
        print(f"gan-jax {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # before a run's first checkpoint, after its last, or a second Ctrl-C
        print(f"gan-jax {args.command}: interrupted; a run keeps what its last checkpoint holds (resume with "
              "--resume, which also writes a finished run's curves and report), a start cut short leaves nothing",
              file=sys.stderr)
        return 128 + getattr(e, "signum", 2)


if __name__ == "__main__":
    sys.exit(main())
