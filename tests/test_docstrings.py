"""The examples in the package's docstrings run and print what they say (doctest, ELLIPSIS allowed)."""

import doctest
import importlib
import pkgutil

import pytest

import gan_jax

MODULES = sorted(m.name for m in pkgutil.walk_packages(gan_jax.__path__, "gan_jax.") if m.name != "gan_jax.cli")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_every_public_function_documents_its_arguments_with_an_example():
    """A public function or method taking arguments has Args/Returns and an example (>>>) in its docstring."""
    import ast
    from pathlib import Path

    missing = []
    for path in sorted(Path(gan_jax.__file__).parent.rglob("*.py")):
        if path.name == "cli.py":  # the command: its --help is its documentation
            continue

        def walk(nodes, prefix=""):
            for n in nodes:
                if isinstance(n, ast.ClassDef) and not n.name.startswith("_"):
                    walk(n.body, f"{prefix}{n.name}.")
                elif isinstance(n, ast.FunctionDef) and not n.name.startswith("_"):
                    doc = ast.get_docstring(n) or ""
                    if [a for a in n.args.args if a.arg not in ("self", "cls")] and not (
                            ("Args" in doc or "Returns" in doc) and ">>>" in doc):
                        missing.append(f"{path.name}:{prefix}{n.name}")

        walk(ast.parse(path.read_text()).body)
    assert not missing, missing
