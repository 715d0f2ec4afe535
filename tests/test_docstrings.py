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
