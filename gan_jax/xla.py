"""`jit`: `jax.jit` plus the one XLA:CPU option this project measured to pay off, applied per compile.

On the CPU, JAX 0.10 runs convolutions through YNNPACK; XLA's Eigen kernels are faster for the DCGAN's
convolutions here (2-core AVX-512, batch 128, `benchmarks/bench_dcgan.py`: its big transposed-conv
passes take 26-48 ms on Eigen against 40-90 ms on YNNPACK; the whole iteration 1.2-1.4x faster in
interleaved runs, docs/dcgan.md). Dots and reductions stay on YNNPACK (Eigen's reductions are ~10x slower
there). So `jit` passes `compiler_options` that keep YNNPACK for dots and reductions only, when:

- the default backend is the CPU (on a GPU or TPU nothing is added);
- `XLA_FLAGS` does not already set `xla_cpu_experimental_ynn_fusion_type` (the user's choice wins);
- it is not turned off: `GAN_JAX_CPU_EIGEN_CONVOLUTIONS=0` in the environment, or
  `gan_jax.xla.jit(f, eigen_convolutions=False)`.

Importing `gan_jax` changes no environment variable. The option is the one the earlier
`XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` set: the compiled programs are
the same (checked on a conv + dot + reduction program's compiled HLO).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax

FLAG = "xla_cpu_experimental_ynn_fusion_type"
# JAX 0.10's default set less LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION
CPU_OPTIONS = {FLAG: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}
ENV_SWITCH = "GAN_JAX_CPU_EIGEN_CONVOLUTIONS"


def compiler_options(eigen_convolutions: bool = True) -> dict[str, str]:
    """The compiler options `jit` adds on this machine (empty where none apply).

    Args:
      eigen_convolutions: False returns {} (JAX's defaults).

    Returns:
      A dict for `jax.jit(..., compiler_options=...)`.

    >>> isinstance(compiler_options(), dict)
    True
    """
    if not eigen_convolutions or os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return {}
    if FLAG in os.environ.get("XLA_FLAGS", "") or jax.default_backend() != "cpu":
        return {}
    return dict(CPU_OPTIONS)


def jit(fun: Callable, *, eigen_convolutions: bool = True, **jit_kwargs: Any) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` with `compiler_options()` (XLA:CPU convolutions on Eigen).

    Args:
      fun: the function to compile.
      eigen_convolutions: False compiles with JAX's defaults.
      **jit_kwargs: passed to `jax.jit` (donate_argnums, static_argnums, ...).

    Returns:
      The jitted function.

    >>> import jax.numpy as jnp
    >>> float(jit(lambda x: x * 2)(jnp.ones(())))
    2.0
    """
    options = compiler_options(eigen_convolutions)
    if options:
        jit_kwargs["compiler_options"] = {**options, **jit_kwargs.get("compiler_options", {})}
    return jax.jit(fun, **jit_kwargs)
