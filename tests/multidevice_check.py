"""Run in a subprocess with 8 forced CPU devices (see test_parallel.py): one step of a configured GAN on
1 device and on 8, printed as JSON for the parent test to compare."""

import collections
import json
import re
import sys

import jax
import numpy as np

from conftest import tiny_config
from gan_jax.config import apply_overrides
from gan_jax import build, run, xla


def step(n: int, overrides: list[str]):
    cfg = apply_overrides(tiny_config(), ["train.batch_size=16", f"train.devices={n}", *overrides])
    gan = build.engine(cfg, (28, 28, 1))
    advance = xla.jit(run.repeat(gan.train_step, cfg.train.fuse), donate_argnums=0)
    state = gan.parallel.replicate(gan.init(build.streams(cfg)))
    images = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype(np.float32)
    images = gan.parallel.replicate(jax.numpy.asarray(images))
    hlo = advance.lower(state, images).compile().as_text()
    collectives = collections.Counter(re.findall(r"(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)"
                                                 r"(?:-start)?\(", hlo))
    state, metrics = advance(state, images)
    sharding = jax.tree.leaves(state.g_params)[0].sharding
    return state, metrics, len(sharding.device_set), collectives


if __name__ == "__main__":
    overrides = sys.argv[1:]
    (s1, m1, d1, _), (s8, m8, d8, collectives) = step(1, overrides), step(8, overrides)
    flat = lambda tree: np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])  # noqa: E731
    params = [flat((s.g_params, s.d_params)) for s in (s1, s8)]
    rests = [flat((s.g_rest, s.d_rest)) for s in (s1, s8)] if jax.tree.leaves(s1.d_rest) else [np.zeros(1)] * 2
    print(json.dumps({
        "devices": [jax.device_count(), d1, d8],
        "metrics": {k: [float(m1[k][0]), float(m8[k][0])] for k in m1},
        "param_max_diff": float(np.max(np.abs(params[0] - params[1]))),
        "param_share_over_1e-5": float(np.mean(np.abs(params[0] - params[1]) > 1e-5)),
        "rest_max_diff": float(np.max(np.abs(rests[0] - rests[1]))),
        "collectives": dict(collectives),
    }))
