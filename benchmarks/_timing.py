"""The benchmarks' one timing loop: the median wall time of a call, waited for on the device."""

from __future__ import annotations

import statistics
import time

import jax


def median_s(f, repeats: int, warm: bool = True) -> float:
    """Median seconds of `f()` over `repeats` calls, each waited for with `jax.block_until_ready`.

    Args:
      f: the call to time (no arguments). repeats: how many timed calls. warm: one untimed call first
        (compiling), for calls whose first run is not the thing measured.

    Returns:
      The median, in seconds.
    """
    if warm:
        jax.block_until_ready(f())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - start)
    return statistics.median(times)
