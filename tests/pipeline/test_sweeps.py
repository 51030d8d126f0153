"""A queued sweep, end to end, on a copy of the reference run: queue, run, list, compare."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from pipeline_support import experiments, sh, wait_for_queue

pytestmark = pytest.mark.slow
SWEEP = "alpha=range(0.2,0.5,0.2)"  # Hydra sweep syntax: alpha = 0.2, 0.4 (the default, 0.6, would change nothing)
TIMEOUT_S = 1800


@pytest.fixture(scope="module")
def swept(pipeline_reference, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("sweep") / "ragtune"
    shutil.copytree(pipeline_reference.repo, repo, symlinks=True)
    queued = sh("dvc", "exp", "run", "--queue", "-S", SWEEP, cwd=repo)
    assert queued.stdout.count("Queued experiment") == 2, queued.stdout
    sh("dvc", "queue", "start", cwd=repo)
    try:
        status = wait_for_queue(repo, TIMEOUT_S)
    finally:
        sh("dvc", "queue", "stop", cwd=repo, check=False)
    assert "Failed" not in status, status + sh("dvc", "queue", "logs", status.split()[-1], cwd=repo, check=False).stdout
    return repo


def test_the_queued_sweep_runs_one_experiment_per_value_with_its_metrics(swept):
    found = experiments(json.loads(sh("dvc", "exp", "show", "--json", cwd=swept).stdout))
    assert sorted(e["alpha"] for e in found.values()) == [0.2, 0.4], found
    for name, exp in found.items():
        assert exp["state"] == "success", (name, exp)
        assert 0 <= exp["map@3"] <= 1 and 0 <= exp["mrr@10"] <= 1, (name, exp)


def test_exp_show_lists_metrics_and_only_the_parameters_that_differ(swept):
    table = list(csv.reader(io.StringIO(sh("dvc", "exp", "show", "--only-changed", "--csv", cwd=swept).stdout)))
    header = table[0]
    assert "alpha" in header and "sample.hybrid.map@3" in header and "sample.hybrid.mrr@10" in header, (
        header
    )  # one section per source
    assert "rrf_k" not in header and "data.name" not in header, header  # unchanged params are hidden
    assert len(table) - 1 >= 3  # the workspace/baseline and two experiments


def test_metrics_and_plots_diff_between_two_experiments(swept, tmp_path):
    first, second = sorted(experiments(json.loads(sh("dvc", "exp", "show", "--json", cwd=swept).stdout)))
    diff = json.loads(sh("dvc", "metrics", "diff", first, second, "--json", cwd=swept).stdout)
    assert "map@3" in json.dumps(diff) and "mrr@10" in json.dumps(diff)
    sh("dvc", "plots", "diff", first, second, "-o", str(tmp_path / "plots"), cwd=swept)
    page = (tmp_path / "plots" / "index.html").read_text()
    assert first in page and second in page and "recall" in page.lower()
    assert "cdn.jsdelivr.net" not in page  # vega inlined: .dvc/plots/offline.html


def test_plot_sweep_draws_each_experiment_and_the_baseline_outside_the_work_tree(swept):
    done = sh(sys.executable, "-m", "ragtune.cli", "plot-sweep", "alpha", cwd=swept)
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["alpha=0.2", "alpha=0.4", "alpha=0.6"], done.stdout
    assert lines[2].endswith("(baseline)") and "metrics/objective.json:objective=" in lines[0]
    assert (swept / ".dvc/tmp/sweep-alpha.png").read_bytes()[:4] == b"\x89PNG"
    assert sh("git", "status", "--porcelain", cwd=swept).stdout == ""  # `ragtune release` is not blocked
