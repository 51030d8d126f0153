"""`ragtune tune` end to end on a copy of the reference run (tiny model, sample data): three trials over alpha,
each a DVC experiment rerunning retrieve → evaluate → submit; the best printed and applied."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from pipeline_support import environment, sh

from ragtune.cache.location import ENV

pytestmark = pytest.mark.slow


def tune(repo, store, *words: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "tune", *words],
        cwd=repo,
        env={**environment(repo), ENV: str(store)},
        text=True,
        capture_output=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    return done


def test_three_trials_over_alpha_are_experiments_and_the_best_is_applied(pipeline_reference, tmp_path):
    repo, store = tmp_path / "ragtune", tmp_path / "store"
    shutil.copytree(pipeline_reference.repo, repo, symlinks=True)

    done = tune(repo, store, "--trials", "3", "--study", "t", "alpha=float(0.3,0.9)")
    print(done.stdout, done.stderr, sep="\n")
    assert "best: trial" in done.stdout and "3 trials done" in done.stdout, done.stdout
    assert (store / "tune" / "t.db").exists() and (store / "tune" / "t" / "history.png").exists()
    assert done.stderr.count("Running stage 'retrieve'") == 3 and "Running stage 'train'" not in done.stderr

    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout)
    names = {
        state.get("name") or group.get("name")
        for baseline in shown
        for group in baseline.get("experiments") or []
        for state in group["revs"]
    }
    assert {"tune-t-0", "tune-t-1", "tune-t-2"} <= names, names

    again = tune(repo, store, "--trials", "3", "--study", "t", "--apply")  # continues: nothing left to run
    assert "Running stage" not in again.stderr, again.stderr
    best = next(line for line in again.stdout.splitlines() if line.startswith("best: trial"))
    alpha = float(best.split("alpha=")[1].split()[0])
    chosen = yaml.safe_load((repo / "conf" / "workspace" / "choices.yaml").read_text())
    assert chosen["alpha"] == pytest.approx(alpha, abs=5e-4), (chosen, best)
