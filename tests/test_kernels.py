"""ragtune.kernels: which stage leaves the CPU kernels' ceiling, read from dvc.yaml and params.yaml as they are."""

from __future__ import annotations

import pytest
import yaml

from ragtune.kernels import native_for

STAGES = {
    "index": {"cmd": "python stages/index.py", "params": ["cpu_kernels", "index"]},
    "retrieve": {"cmd": "python stages/retrieve.py", "params": ["alpha", "index.precision", {"other.yaml": ["x"]}]},
    "prepare": {"cmd": "python stages/prepare.py", "params": ["data"]},
}


@pytest.mark.parametrize(
    ("params", "native"),
    [
        ({"cpu_kernels": "portable", "index": {"precision": "fp32"}}, set()),
        ({"cpu_kernels": "native", "index": {"precision": "fp32"}}, {"index"}),  # only where it is listed
        ({"cpu_kernels": "portable", "index": {"precision": "bf16"}}, {"index", "retrieve"}),
        ("not a mapping", set()),
    ],
)
def test_a_stage_leaves_the_ceiling_only_for_what_it_lists(tmp_path, params, native):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": STAGES}))
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert {stage for stage in (*STAGES, "unknown") if native_for(stage, root)} == native


def test_files_it_cannot_read_leave_the_ceiling(tmp_path):
    assert not native_for("index", tmp_path)  # no params.yaml, no dvc.yaml
    (tmp_path / "params.yaml").write_text("cpu_kernels: native\n: [\n")
    assert not native_for("index", tmp_path)
