"""gan_jax: GANs, DCGAN, autoencoders and VAEs (GANs in Action, chapters 1-4) in JAX/Flax NNX.

Importing the package sets one XLA:CPU option before JAX starts its backend: convolutions run on XLA's
Eigen kernels instead of YNNPACK, JAX 0.10's default. Measured on a 2-core AVX-512 CPU at batch 128
(`benchmarks/bench_dcgan.py`): the DCGAN's big transposed-conv passes take 26-48 ms on Eigen against
40-90 ms on YNNPACK, and its whole iteration runs 1.2-1.4x faster (interleaved runs; docs/dcgan.md).
Dots and reductions stay on YNNPACK (Eigen's reductions are ~10x slower there; the MLP GAN's speed is
unchanged either way). The option only touches the CPU backend; a value of
`xla_cpu_experimental_ynn_fusion_type` already in XLA_FLAGS wins, and it has no effect if JAX's backend
was started before the import.
"""

import os

CPU_XLA_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"

if "xla_cpu_experimental_ynn_fusion_type" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CPU_XLA_FLAG}".strip()
