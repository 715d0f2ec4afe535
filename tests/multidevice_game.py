"""Run in a subprocess with 8 forced CPU devices (see test_parallel.py): one step of the three-player test
game (tests/test_game.py's BiGAN) on 1 device and on 8, printed as JSON for the parent test to compare."""

import json

import jax
import numpy as np

from test_game import bigan, data
from gan_jax import xla


def step(n: int):
    game = bigan(devices=n, batch_size=16)
    state = game.parallel.replicate(game.init(0))
    images = game.parallel.replicate(jax.numpy.asarray(data(64)))
    state, metrics = xla.jit(game.train_step)(state, images)
    return state, metrics, len(jax.tree.leaves(state.params)[0].sharding.device_set)


if __name__ == "__main__":
    (s1, m1, d1), (s8, m8, d8) = step(1), step(8)
    rest = [np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(s.rest)]) for s in (s1, s8)]
    print(json.dumps({"devices": [jax.device_count(), d1, d8],
                      "metrics": {k: [float(m1[k]), float(m8[k])] for k in m1},
                      "rest_max_diff": float(np.max(np.abs(rest[0] - rest[1])))}))
