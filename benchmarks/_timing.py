"""The benchmarks' timing helpers: the median wall time of a call, and a run's loop rate from its metrics."""

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


def loop_rate(rows: list[dict]) -> tuple[int, float]:
    """The iterations a run logged and the seconds its loop took, from its metrics.jsonl rows.

    Each row covers the steps since the row before at that row's `it_per_s` (previews and checkpoints
    inside the window included), so the loop's time is the sum of steps / rate over the rows.

    Args:
      rows: the run's metrics.jsonl rows, in order, each with "step" and "it_per_s".

    Returns:
      (iterations, seconds); their ratio is the loop's it/s.

    >>> loop_rate([{"step": 100, "it_per_s": 50.0}, {"step": 200, "it_per_s": 100.0}])
    (200, 3.0)
    """
    done, loop, before = 0, 0.0, 0
    for row in rows:
        done, loop, before = done + row["step"] - before, loop + (row["step"] - before) / row["it_per_s"], row["step"]
    return done, loop
