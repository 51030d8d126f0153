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
from pathlib import Path

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


def native_for(stage: str, root: Path) -> bool:
    """Whether `stage` runs on the CPU's own best kernels instead of under the ceiling: it lists `cpu_kernels` in
    dvc.yaml and params.yaml says native, or it lists index.precision (or the index group) and that says bf16
    (bfloat16 products need the AMX or AVX-512 BF16 kernels above the ceiling). Read from the files as they are,
    before torch loads (the schema checks params.yaml afterwards); files it cannot read leave the ceiling."""
    import yaml

    from ragtune.config.pipeline import dvc_stages

    try:
        text = (root / "params.yaml").read_text(encoding="utf-8")
        values = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        params = dvc_stages(root).get(stage, {}).get("params", [])
    except (OSError, yaml.YAMLError, AttributeError):
        return False
    listed = {key for key in params if isinstance(key, str)}  # params.yaml's (`- other.yaml: […]` is not)
    if not isinstance(values, dict):
        return False
    if values.get("cpu_kernels") == "native" and "cpu_kernels" in listed:
        return True
    index = values.get("index")
    return isinstance(index, dict) and index.get("precision") == "bf16" and bool(listed & {"index", "index.precision"})
