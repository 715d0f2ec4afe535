"""Recipes: how a run remembers the code that built its engine, so that another process can rebuild it.

    @gj.recipe
    def bigan(z_dim: int = 32) -> gj.Game:
        return gj.Game(...)

    game = bigan(z_dim=32)      # game.recipe == {"factory": "/home/me/bigan.py:bigan", "kwargs": {"z_dim": 32}}
    gj.fit(game, data, run_dir="runs/bigan", steps=6000)    # writes runs/bigan/engine.json
    gj.load_run("runs/bigan", trust=True)                    # elsewhere: imports bigan.py, calls bigan(z_dim=32)

A recipe is a module-level function whose keyword arguments are JSON values. Loading a run rebuilds its
engine by importing the recorded module and calling the function: that runs code named by the run
directory, so it happens only when the caller says so (`trust=True`, `gan-jax sample/eval --trust`). A run
directory may come from someone else.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from gan_jax.config import ConfigError


class UntrustedCode(RuntimeError):
    """Loading would run code a run directory names, and the caller did not opt in."""


def resolve(path: str, key: str, builtins: tuple[str, ...] = ()) -> Any:
    """The object an import path names: `package.module:attr` or `path/to/file.py:attr` (imported on use).

    Args:
      path: the import path.
      key: where it came from (a config key, or a run's engine.json), for error messages.
      builtins: the built-in names also accepted at `key` (for the message when `path` is neither).

    Returns:
      The attribute; ConfigError naming `key` when it cannot be found or imported.

    >>> resolve("gan_jax.losses:hinge", "gan.loss").name
    'hinge'
    """
    choices = f"one of {', '.join(builtins)}, or " if builtins else ""
    if ":" not in path:
        raise ConfigError(f"{key}: got {path!r}, expected {choices}an import path module:function "
                          "(e.g. mypkg.nets:build or my_experiment.py:build)")
    module_name, attr = path.rsplit(":", 1)
    try:
        if module_name.endswith(".py"):
            file = Path(module_name).expanduser()
            if not file.is_file():
                raise ConfigError(f"{key}: {path!r}: no file {file}")
            name = f"_gan_jax_user_{abs(hash(str(file.resolve())))}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, file)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                if os.getcwd() in sys.path:
                    raise
                sys.path.insert(0, os.getcwd())
                module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as e:  # the user's module failed to import
        raise ConfigError(f"{key}: cannot import {module_name!r} ({type(e).__name__}: {e}); is it on the Python "
                          "path (or run from its folder)?") from None
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{key}: {module_name!r} has no {attr!r}")
        target = getattr(target, part)
    return target


def where(fn: Callable) -> str:
    """The import path that finds `fn` again: `module:name`, or `/abs/path/file.py:name` for a script.

    Args:
      fn: a module-level function.

    Returns:
      The path; ValueError for a function defined inside another (nothing can import it).

    >>> where(where)
    'gan_jax.recipes:where'
    """
    name = fn.__qualname__
    if "<locals>" in name or "<lambda>" in name:
        raise ValueError(f"a recipe must be a function defined at a module's top level, not {name}: "
                         "another process finds it by its module and name")
    module = sys.modules.get(fn.__module__)
    file = getattr(module, "__file__", None)
    if fn.__module__ == "__main__" or fn.__module__.startswith("_gan_jax_user_"):
        if file is None:
            raise ValueError(f"{name} is defined in an interactive session; a recipe must live in a file "
                             "another process can import (a module, or a script's path)")
        return f"{Path(file).resolve()}:{name}"
    return f"{fn.__module__}:{name}"


def _json(value: Any, what: str) -> Any:
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: a recipe's arguments are recorded in the run as JSON (numbers, strings, lists, "
                        f"dicts), got {value!r} ({e}); pass a name or number and build the object inside") from None
    return json.loads(text)


def recipe(fn: Callable) -> Callable:
    """Marks `fn` as a recipe: the engine it returns carries `engine.recipe`, which `gan_jax.fit` records
    in the run's engine.json so that `gan_jax.load_run(RUN, trust=True)` and `gan-jax sample/eval RUN
    --trust` can rebuild it in another process.

    Args:
      fn: a module-level function returning an engine (a `Game`, `GAN`, `Autoencoder`, a user's engine);
        its arguments must be JSON values (every argument is recorded by name, defaults included).

    Returns:
      The wrapped function.

    >>> import optax
    >>> from gan_jax import game
    >>> tiny = recipe(game._tiny_game)
    >>> tiny(rate=0.5).recipe
    {'factory': 'gan_jax.game:_tiny_game', 'kwargs': {'rate': 0.5}}
    """
    factory = where(fn)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        named = {}
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL and value:
                raise TypeError(f"{fn.__qualname__}: a recipe is called with named arguments (*{name} cannot be "
                                "recorded)")
            if kind is inspect.Parameter.VAR_KEYWORD:
                named.update(value)
            elif kind is not inspect.Parameter.VAR_POSITIONAL:
                named[name] = value
        recorded = {"factory": factory, "kwargs": _json(named, f"{fn.__qualname__}'s arguments")}  # checked first
        return mark(fn(**named), recorded)

    build.factory = factory
    return build


def mark(engine, rec: dict):
    """Sets `engine.recipe = rec` (also on an engine that is otherwise immutable: how it was made is not one
    of its settings).

    Args:
      engine: an engine. rec: what `record` will return for it.

    Returns:
      The engine.

    >>> from gan_jax import game
    >>> mark(game._tiny_game(), {"experiment": "mine"}).recipe
    {'experiment': 'mine'}
    """
    object.__setattr__(engine, "recipe", rec)
    return engine


def record(engine) -> dict | None:
    """What a run records of its engine (engine.json): the engine's `recipe` (`{"factory", "kwargs"}` from
    `recipe`, or `{"experiment": name}` for an engine built from an experiment's config); for
    `gan_jax.Seeds` of a recipe's engine, with `"seeds": n`.

    Args:
      engine: an engine.

    Returns:
      The record, or None when the engine does not say how it was made.

    >>> from gan_jax import game
    >>> record(recipe(game._tiny_game)())["kwargs"]
    {'rate': 0.1}
    """
    rec = getattr(engine, "recipe", None)
    return dict(rec) if isinstance(rec, dict) else None


def rebuild(rec: dict, trust: bool, where_from: str) -> Any:
    """The engine a recipe record describes: imports its module and calls its function.

    Args:
      rec: a `record` with "factory" and "kwargs" (and "seeds").
      trust: run that code (the caller's explicit choice); False raises `UntrustedCode` naming the code.
      where_from: the run, for messages.

    Returns:
      The engine (`gan_jax.Seeds` of it for a record with "seeds").

    >>> from gan_jax import game
    >>> rebuild(record(recipe(game._tiny_game)(rate=0.2)), trust=True, where_from="x").turns[0].players
    ('D',)
    """
    factory, kwargs = rec.get("factory"), rec.get("kwargs", {})
    if not isinstance(factory, str) or not isinstance(kwargs, dict):
        raise ConfigError(f"{where_from}/engine.json: expected {{\"factory\": \"module:function\", \"kwargs\": {{...}}}}, "
                          f"got {rec!r}")
    if not trust:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UntrustedCode(
            f"{where_from} was trained with an engine built by {factory}({args}); loading it imports and runs that "
            "code. If you trust it, pass trust=True (gan-jax sample/eval: --trust); or build the engine yourself and "
            "pass it (gan_jax.load_run(run_dir, engine=...))")
    engine = resolve(factory, f"{where_from}/engine.json")(**kwargs)
    mark(engine, {"factory": factory, "kwargs": kwargs})  # so that fitting it again records it again
    if "seeds" in rec:
        from gan_jax.seeds import Seeds

        engine = Seeds(engine, int(rec["seeds"]))
    return engine


__all__ = ["recipe", "mark", "record", "rebuild", "resolve", "where", "UntrustedCode"]
