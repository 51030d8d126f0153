"""The CPU kernels' ceiling (`cpu_kernels: portable`): one instruction-set ceiling for ATen's, MKL's and oneDNN's
kernels, set in the environment before torch loads, so that encodings and training steps give the same bytes on
x86-64 CPUs whatever their instruction sets and core counts (an AMD EPYC with AVX2 and an Intel Xeon with AMX
gave the same forward and backward pass; across them a whole fine-tuning still differed in its weights' last
bits: docs/reproducibility.md).

MKL's conditional numerical reproducibility is asked for in its strict mode (`AVX2,STRICT`): plain `AVX2` keeps
the instruction set but, on Intel CPUs, lets a product's bytes depend on the thread count, so a 2-thread stage and
the 1-thread Ray actors of `compute=ray` encoded other bytes (measured: docs/reproducibility.md).
"""

from __future__ import annotations

import os
import platform

CEILING = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def set_ceiling() -> None:
    """The ceiling in this process's environment, on x86-64 (a value already there wins); call before torch loads."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        for name, value in CEILING.items():
            os.environ.setdefault(name, value)


def kernel_environment() -> dict[str, str]:
    """The ceiling's variables as this process has them: what processes it starts elsewhere (Ray actors) must
    run under to give its bytes."""
    return {name: os.environ[name] for name in CEILING if name in os.environ}
