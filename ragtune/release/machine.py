"""What kind of machine computed a result: enough to explain why a retrained model differs in its last bits.

Seeded CPU training is byte-identical run to run on one machine, but oneDNN and MKL choose their kernels by
instruction set (AVX2, AVX-512, AMX), so another CPU kind rounds differently; GPU kernels differ by model and
driver. `ragtune release` records `describe()`; `ragtune reproduce` names what differs on a mismatch.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

# the instruction-set extensions that change which float kernels torch runs
KERNEL_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str | None, set[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """{"cpu", "cpu_features", "machine", "torch"}: the CPU model, its kernel-relevant features, the
    architecture, and the installed torch build (its local version names CUDA builds, e.g. `+cu128`)."""
    model, flags = _cpuinfo(cpuinfo)
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = None
    return {
        "cpu": model or platform.processor() or None,
        "cpu_features": [f for f in KERNEL_FEATURES if f in flags],
        "machine": platform.machine(),
        "torch": torch_version,
    }


def differences(recorded: dict | None, current: dict) -> list[str]:
    """Human-readable `field: recorded → current` for each field that differs (none for an old record)."""
    if not recorded:
        return []
    return [
        f"{key}: {recorded.get(key)} → {current.get(key)}"
        for key in current
        if key in recorded and recorded.get(key) != current.get(key)
    ]
