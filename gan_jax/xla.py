"""`jit`: `jax.jit` plus the compiler options this project relies on per backend, applied per compile.

On the CPU, JAX 0.10 runs convolutions through YNNPACK; XLA's Eigen kernels are faster for the DCGAN's
convolutions here (2-core AVX-512, batch 128, `benchmarks/bench_dcgan.py`: its big transposed-conv
passes take 26-48 ms on Eigen against 40-90 ms on YNNPACK; the whole iteration 1.2-1.4x faster in
interleaved runs, docs/dcgan.md). Dots and reductions stay on YNNPACK (Eigen's reductions are ~10x slower
there). So `jit` passes `compiler_options` that keep YNNPACK for dots and reductions only, when:

- the default backend is the CPU (on a GPU or TPU nothing is added);
- `XLA_FLAGS` does not already set `xla_cpu_experimental_ynn_fusion_type` (the user's choice wins);
- it is not turned off: `GAN_JAX_CPU_EIGEN_CONVOLUTIONS=0` in the environment, or
  `gan_jax.xla.jit(f, eigen_convolutions=False)`.

On a GPU, `jit` compiles deterministically instead (`xla_gpu_deterministic_ops`: no autotuning and no
nondeterministic kernels), so that a resumed run, which is a new process and a new compile, picks the
same kernels as the run it continues and the bitwise resume holds there too. It costs speed wherever
autotuning would have found a faster kernel (not yet measured here: no GPU has been lent to this project);
turn it off with `GAN_JAX_GPU_DETERMINISTIC=0`, `jit(f, deterministic=False)`, or your own
`--xla_gpu_deterministic_ops` in `XLA_FLAGS`, and resumes are then equal only to float rounding.

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
GPU_FLAG = "xla_gpu_deterministic_ops"
GPU_OPTIONS = {GPU_FLAG: True}
GPU_SWITCH = "GAN_JAX_GPU_DETERMINISTIC"


def _off(switch: str) -> bool:
    return os.environ.get(switch, "1").strip().lower() in ("0", "false", "no", "off")


def compiler_options(eigen_convolutions: bool = True, deterministic: bool = True) -> dict[str, Any]:
    """The compiler options `jit` adds on this machine's default backend (empty where none apply).

    Args:
      eigen_convolutions: on the CPU, False leaves convolutions to JAX's default (YNNPACK).
      deterministic: on a GPU, False leaves XLA free to autotune (faster, not bitwise across processes).

    Returns:
      A dict for `jax.jit(..., compiler_options=...)`.

    >>> isinstance(compiler_options(), dict)
    True
    """
    backend, flags = jax.default_backend(), os.environ.get("XLA_FLAGS", "")
    if backend == "cpu" and eigen_convolutions and not _off(ENV_SWITCH) and FLAG not in flags:
        return dict(CPU_OPTIONS)
    if backend == "gpu" and deterministic and not _off(GPU_SWITCH) and GPU_FLAG not in flags:
        return dict(GPU_OPTIONS)
    return {}


def jit(fun: Callable, *, eigen_convolutions: bool = True, deterministic: bool = True, **jit_kwargs: Any) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` with `compiler_options()` (XLA:CPU convolutions on Eigen; deterministic
    XLA:GPU kernels).

    Args:
      fun: the function to compile.
      eigen_convolutions: False compiles CPU convolutions with JAX's defaults.
      deterministic: False lets XLA:GPU autotune.
      **jit_kwargs: passed to `jax.jit` (donate_argnums, static_argnums, ...).

    Returns:
      The jitted function.

    >>> import jax.numpy as jnp
    >>> float(jit(lambda x: x * 2)(jnp.ones(())))
    2.0
    """
    options = compiler_options(eigen_convolutions, deterministic)
    if options:
        jit_kwargs["compiler_options"] = {**options, **jit_kwargs.get("compiler_options", {})}
    return jax.jit(fun, **jit_kwargs)
