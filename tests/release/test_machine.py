"""ragtune.release.machine: what a release records about the machine, and how a reproduction names what differs."""

from __future__ import annotations

from ragtune.release import machine

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16 fma
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16 fma
"""


def test_describe_keeps_the_cpu_model_and_only_kernel_relevant_features(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    described = machine.describe(path)
    assert described["cpu"] == "Intel(R) Xeon(R) Processor"
    assert described["cpu_features"] == ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    assert set(described) == {"cpu", "cpu_features", "machine", "torch"}


def test_describe_without_cpuinfo_still_answers(tmp_path):
    described = machine.describe(tmp_path / "absent")
    assert described["cpu_features"] == []


def test_differences_name_each_changed_field_and_ignore_old_records():
    here = {"cpu": "B", "cpu_features": ["avx2"], "machine": "x86_64", "torch": "2.13.0"}
    released = dict(here, cpu="A", cpu_features=["avx2", "avx512f"])
    assert machine.differences(released, here) == ["cpu: A → B", "cpu_features: ['avx2', 'avx512f'] → ['avx2']"]
    assert machine.differences(here, here) == []
    assert machine.differences(None, here) == []  # a record made before releases named their machine
