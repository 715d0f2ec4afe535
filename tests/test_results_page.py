"""docs/results.md is what the JSON files give, and a row follows its JSON."""

import json
import shutil
from pathlib import Path

from experiments import results_page


def test_the_page_is_up_to_date():
    assert results_page.main(["--check"]) == 0, "run: python -m experiments.results_page"


def test_a_row_follows_its_json(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    shutil.copytree(results_page.DOCS, docs)
    evals = json.loads((docs / "dcgan_eval_20k.json").read_text())
    evals["mnist_dcgan+ema@20000"]["samples"]["fd"] = 123.456
    (docs / "dcgan_eval_20k.json").write_text(json.dumps(evals))
    r = json.loads((docs / "results" / "mnist_vae50.likelihood_k5000.json").read_text())
    r["nll"] = 77.7
    (docs / "results" / "mnist_vae50.likelihood_k5000.json").write_text(json.dumps(r))
    monkeypatch.setattr(results_page, "DOCS", docs)
    page = results_page.render()
    dcgan_row = next(line for line in page.splitlines() if line.startswith("| DCGAN (the book's), EMA of G |"))
    assert "| 123.46 |" in dcgan_row
    assert "| 77.70 ± 0.54 |" in page
    assert "../shared" not in page and "/path/to/mnist.npz" in page
    assert results_page.main(["--check", "--out", str(tmp_path / "missing.md")]) == 1


def test_user_facing_text_never_names_the_developers_shared_folder():
    """README, docs (but the dated developer notes), the package and the examples show the user's routes
    (/path/to/mnist.npz, tfds), never the developers' ../shared folder."""
    root = Path(__file__).resolve().parent.parent
    files = [root / "README.md", *(root / "docs").rglob("*"), *(root / "gan_jax").rglob("*"), *(root / "examples").rglob("*")]
    named = [str(f.relative_to(root)) for f in files
             if f.is_file() and "notes" not in f.relative_to(root).parts and f.suffix in (".md", ".json", ".py", ".txt")
             and ("../shared" in f.read_text(errors="ignore") or "/work/shared" in f.read_text(errors="ignore"))]
    assert named == []
