"""Data parallelism over the local devices, through JAX's own sharding, and the compute precision.

`DataParallel(n)` builds a one-axis mesh ("data") over `n` local devices (`train.devices`, 0 = all).
The state and the dataset are replicated on every device; inside the compiled step each batch (real
images, noise) is constrained to be split along its first axis, so every device computes its slice and
XLA's partitioner (GSPMD) inserts the all-reduces. Means over the batch (losses, BatchNorm statistics) are
therefore over the global batch, and a step on N devices equals the same step on one device up to
float rounding (tested with `XLA_FLAGS=--xla_force_host_platform_device_count=8`). With one device
every call is a no-op.

Over several hosts (`initialize_distributed`, `gan-jax train --distributed`), the mesh spans every
device of every process: each host loads the dataset and holds the replicated state, and inside each step
its devices compute only their rows of the global batch. Everything else a run does (previews, reports,
files in the run directory) happens on the primary process (`primary()`) from a host-local copy of the
state (`local`); checkpoints are written by orbax, which every process calls.

`compute(tree, precision)`: mixed precision casts float parameters and inputs to bfloat16 for the
forward and backward passes while the parameters and optimizer state stay float32 (the cast is inside
the differentiated function, so gradients arrive in float32).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class DistributedError(ValueError):
    """The environment of a multi-host run is incomplete or wrong."""


ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def initialize_distributed() -> None:
    """Joins a multi-host run through `jax.distributed.initialize`, from the environment: on a TPU pod,
    SLURM or Open MPI, JAX finds the coordinator and this process's rank itself; elsewhere set
    JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and JAX_PROCESS_ID. Must run
    before anything touches a device."""
    set_ = {name: os.environ[name] for name in ENV if os.environ.get(name)}
    if set_ and len(set_) < len(ENV):
        raise DistributedError(f"--distributed: set all of {', '.join(ENV)} (only {', '.join(set_)} set), "
                          "or none of them on a TPU pod, SLURM or Open MPI")
    kwargs = {}
    if set_:
        try:
            kwargs = {"num_processes": int(set_["JAX_NUM_PROCESSES"]), "process_id": int(set_["JAX_PROCESS_ID"])}
        except ValueError:
            raise DistributedError("--distributed: JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers, got "
                              f"{set_['JAX_NUM_PROCESSES']!r} and {set_['JAX_PROCESS_ID']!r}") from None
    try:
        jax.distributed.initialize(**kwargs)
    except ValueError as e:  # no cluster found and nothing set
        raise DistributedError(f"--distributed: {e}; set {', '.join(ENV)}") from None


def primary() -> bool:
    """Whether this is the process that writes the run directory (always, on one host)."""
    return jax.process_index() == 0


def local(tree):
    """A host-local copy of a replicated tree, for work only the primary process does.

    Args:
      tree: a replicated pytree.

    Returns:
      The tree itself on one host; over several processes each array's copy on this host's first device.

    >>> local({"a": 1})
    {'a': 1}
    """
    if jax.process_count() == 1:
        return tree
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


def agree(flag: bool, sync: bool) -> bool:
    """Whether any process raised `flag` (a stop request), so every process stops at the same step.

    Args:
      flag: this process's flag. sync: whether this is a step at which processes compare (a collective).

    Returns:
      `flag` itself on one host; over several processes any process's flag where `sync`, else False.

    >>> agree(True, sync=False)   # one host
    True
    """
    if jax.process_count() == 1:
        return flag
    if not sync:
        return False
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def barrier(name: str) -> None:
    """Waits until every process reaches this point (a no-op on one host).

    Args:
      name: the barrier's name (the same on every process).

    Returns:
      None.

    >>> barrier("checked")
    """
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


class DataParallel:
    """A one-axis mesh over `n_devices` devices (0 = all); ValueError when a batch does not split.

    >>> DataParallel(1).n
    1
    """

    def __init__(self, n_devices: int, batch_sizes: tuple[int, ...] = ()):
        available = jax.devices()  # every process's devices; on one host, the local ones
        n = n_devices or len(available)
        if n > len(available):
            raise ValueError(f"devices: {n} devices asked, {len(available)} available "
                              f"({available[0].platform}); use 0 for all of them")
        if jax.process_count() > 1 and n != len(available):
            raise ValueError(f"devices: a run over {jax.process_count()} processes uses all their "
                              f"{len(available)} devices; set devices to 0")
        for b in batch_sizes:
            if b % n:
                raise ValueError(f"batch_size: a batch of {b} samples does not split over {n} devices; "
                                 f"use a multiple of {n} (or set devices)")
        self.n = n
        self.mesh = Mesh(np.array(available[:n]), ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec("data"))

    def shard(self, x: jax.Array) -> jax.Array:
        """Inside a compiled step: split `x` along its first axis over the devices.

        Args:
          x: a batch.

        Returns:
          `x` with a sharding constraint (itself on one device).

        >>> DataParallel(1).shard(jnp.ones(4)).shape
        (4,)
        """
        return x if self.n == 1 else jax.lax.with_sharding_constraint(x, self.split)

    def replicate(self, tree):
        """Outside a step: a copy of every array of `tree` on every device (the state, the dataset).

        Args:
          tree: a pytree. Over several processes each passes its own identical copy (the same seed gives the
            same state and data).

        Returns:
          The replicated tree (itself on one device).

        >>> DataParallel(1).replicate({"w": 1.0})
        {'w': 1.0}
        """
        if self.n == 1:
            return tree
        if jax.process_count() == 1:
            return jax.device_put(tree, self.replicated)
        return jax.tree.map(self._global, tree)

    def _global(self, x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(self._global(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, self.replicated, lambda index: x[index])


def compute(tree, precision: str):
    """`tree`'s float arrays in the compute dtype (a no-op for float32).

    Args:
      tree: a pytree. precision: "float32" or "bfloat16".

    Returns:
      The cast tree.

    >>> compute(jnp.ones(2), "bfloat16").dtype
    dtype(bfloat16)
    """
    dtype = PRECISIONS[precision]
    if dtype == jnp.float32:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
