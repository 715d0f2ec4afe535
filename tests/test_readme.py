"""The README's Python runs as written (at a few iterations), and the pages it links exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "gj.Game(" in code and "gj.GAN(" in code
    code = re.sub(r"steps=\d+", "steps=6", code)
    monkeypatch.chdir(tmp_path)  # runs/ is written here
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["images"].shape == (64, 28, 28, 1)
    assert (tmp_path / "runs" / "mine" / "checkpoints" / "6").is_dir()


def test_the_readme_is_a_front_door_whose_links_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(((?:docs|examples)/[^)#]*)", text)
    assert "docs/game.md" in links and "docs/training.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
