"""Every script in examples/ runs end to end at a tiny size (CI runs them here), and the package's import
graph has no cycles."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "bigan.py": ["--steps", "10", "--run-dir", "{tmp}/run"],
    "custom_gan.py": ["--steps", "8", "--width", "4", "--batch", "8", "--run-dir", "{tmp}/run"],
    "relativistic.py": ["--steps", "10", "--run-dir", "{tmp}/run"],
    "infogan.py": ["--steps", "10", "--run-dir", "{tmp}/run"],
    "hand_loop.py": ["--steps", "10", "--batch", "16", "--out", "{tmp}/grid.png"],
    "vae_retrieval.py": ["--steps", "20", "--run-dir", "{tmp}/run", "--out", "{tmp}/grid.png"],
    "seeds_vmap.py": ["--seeds", "2", "--steps", "10", "--run-dir", "{tmp}/run"],
    "conditional.py": ["--steps", "10", "--run-dir", "{tmp}/run"],
    "semi_supervised.py": ["--steps", "10", "--run-dir", "{tmp}/run"],
}


def test_every_example_is_listed_here():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs(name, tmp_path):
    args = [a.format(tmp=tmp_path) for a in TINY[name]]
    out = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert len((ROOT / "examples" / name).read_text().splitlines()) < 80  # short enough to copy
    assert list(tmp_path.rglob("*.png")), "every example writes a picture"


def _imports(path: Path, package: str) -> set[str]:
    """The package modules a module imports (at any depth of its code)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package)}
    return found


def test_the_package_has_no_import_cycles():
    pkg = ROOT / "gan_jax"
    modules = {}
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {m: {i for i in _imports(p, "gan_jax") if i in modules and i != m} for m, p in modules.items()}
    # a package's __init__ importing its own submodules is how it re-exports them, not a cycle
    graph = {m: {i for i in deps if not (m == "gan_jax" or (i.startswith(m + ".") and modules[m].name == "__init__.py"))}
             for m, deps in graph.items()}
    for m in graph:
        graph[m].discard("gan_jax")

    def visit(m, stack):
        if m in stack:
            raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(m):] + [m])}")
        for dep in sorted(graph[m]):
            visit(dep, stack + [m])

    for m in sorted(graph):
        visit(m, [])
    assert "gan_jax.config" in graph and not graph["gan_jax.config"]  # config imports nothing of the package
