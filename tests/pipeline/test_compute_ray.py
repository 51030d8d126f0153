"""compute=ray end to end: the sample pipeline from clean with `dvc exp run -S compute=ray -S compute.workers=2`
(each stage starts its own 2-worker local Ray) writes the default run's outputs, byte for byte."""

from __future__ import annotations

import pytest
from pipeline_support import committed_copy, lock_outs, sh

pytestmark = pytest.mark.slow


def test_a_ray_run_from_clean_writes_the_default_runs_outputs(pipeline_reference, tmp_path):
    pytest.importorskip("ray")
    repo = committed_copy(tmp_path / "ragtune")  # the reference's code and settings, no outputs, no memo
    done = sh("dvc", "exp", "run", "-S", "compute=ray", "-S", "compute.workers=2", cwd=repo)
    assert "compute: ray: 2 workers, local cluster" in done.stdout
    assert (repo / "submissions" / "submission.csv").read_bytes() == pipeline_reference.submission
    outs = lock_outs(repo)
    differ = sorted(out for out, md5 in pipeline_reference.outs.items() if outs.get(out) != md5)
    assert not differ, f"compute=ray changed {differ}"
    # where work runs is no parameter of any stage: back to compute=local, nothing reruns
    assert "Running stage" not in sh("dvc", "exp", "run", "-S", "compute=local", cwd=repo).stdout
