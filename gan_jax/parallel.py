"""Data parallelism over the local devices, through JAX's own sharding, and the compute precision.

`DataParallel(n)` builds a one-axis mesh ("data") over `n` local devices (`train.devices`, 0 = all).
The state and the dataset are replicated on every device; inside the compiled step each batch (real
images, noise) is constrained to be split along its first axis, so every device computes its slice and
XLA's partitioner (GSPMD) inserts the all-reduces. Means over the batch (losses, BatchNorm statistics) are
therefore over the global batch, and a step on N devices equals the same step on one device up to
float rounding (tested with `XLA_FLAGS=--xla_force_host_platform_device_count=8`). With one device
every call is a no-op.

`compute(tree, precision)`: mixed precision casts float parameters and inputs to bfloat16 for the
forward and backward passes while the parameters and optimizer state stay float32 (the cast is inside
the differentiated function, so gradients arrive in float32).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class DataParallel:
    def __init__(self, n_devices: int, batch_sizes: tuple[int, ...] = ()):
        from gan_jax.config import ConfigError

        available = jax.local_devices()
        n = n_devices or len(available)
        if n > len(available):
            raise ConfigError(f"train.devices: {n} devices asked, {len(available)} available "
                              f"({available[0].platform}); use 0 for all of them")
        for b in batch_sizes:
            if b % n:
                raise ConfigError(f"train.batch_size: a batch of {b} samples does not split over {n} devices; "
                                  f"use a multiple of {n} (or set train.devices)")
        self.n = n
        self.mesh = Mesh(np.array(available[:n]), ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec("data"))

    def shard(self, x: jax.Array) -> jax.Array:
        """Inside a compiled step: split `x` along its first axis over the devices."""
        return x if self.n == 1 else jax.lax.with_sharding_constraint(x, self.split)

    def replicate(self, tree):
        """Outside: a copy of every array of `tree` on every device (the state, the dataset)."""
        return tree if self.n == 1 else jax.device_put(tree, self.replicated)


def compute(tree, precision: str):
    """`tree`'s float arrays in the compute dtype (a no-op for float32)."""
    dtype = PRECISIONS[precision]
    if dtype == jnp.float32:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
