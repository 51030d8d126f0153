"""Helpers for tests that run the real pipeline on the shipped sample in a temporary copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = [
    "prepare",
    "queries",
    "base",
    "negatives",
    "train",
    "index",
    "retrieve",
    "evaluate",
    "submit",
]  # dvc repro's order


def environment(repo: Path) -> dict[str, str]:
    """The venv's tools first; `ragtune` imported from `repo` (the editable install points at the main checkout)."""
    return dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(repo),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=environment(cwd), text=True, capture_output=True)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def copy_repository(target: Path) -> Path:
    """The working tree's files that git tracks or would track (no outputs, no DVC cache)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, text=True, capture_output=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def shrink_training(repo: Path, model: str = "tiny") -> None:
    """`model` as the copy's default, with a few steps of its real training: the workflows are under test
    here, not model quality (the tiny model keeps them fast; `dvc exp run` composes from conf/, so the
    default itself is set)."""
    config = repo / "conf" / "config.yaml"
    config.write_text(re.sub(r"^  - model: \S+", f"  - model: {model}", config.read_text(), count=1, flags=re.M))
    conf = repo / "conf" / "model" / f"{model}.yaml"
    text = re.sub(r"max_steps: \d+", "max_steps: 3" if model == "tiny" else "max_steps: 2", conf.read_text())
    text = re.sub(r"batch_size: \d+", "batch_size: 4", text)
    text = re.sub(r"logging_steps: \d+", "logging_steps: 1", text)
    conf.write_text(text)
    sh(sys.executable, "-m", "ragtune.cli", "params", cwd=repo)


def committed_copy(target: Path, model: str = "tiny") -> Path:
    """A copy of the repository with short training of `model`, as its own git repository with no DVC remote."""
    repo = copy_repository(target)
    shrink_training(repo, model)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("dvc", "remote", "remove", "local", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "copy", cwd=repo)
    return repo


def lock_outs(repo: Path) -> dict[str, str]:
    """`stage:path` -> md5 of every out in repo's dvc.lock."""
    stages = (yaml.safe_load((repo / "dvc.lock").read_text()) or {}).get("stages") or {}
    return {
        f"{stage}:{out['path']}": str(out.get("md5"))
        for stage, entry in sorted(stages.items())
        for out in entry.get("outs") or []
    }


def stage_outs(repo: Path, stage: str) -> list[tuple[str, bool]]:
    """(path, persist) for each out of `stage` in repo's dvc.yaml."""
    outs = []
    for out in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"][stage].get("outs") or []:
        if isinstance(out, dict):
            ((path, options),) = out.items()
            outs.append((path, bool((options or {}).get("persist"))))
        else:
            outs.append((out, False))
    return outs


def experiments(shown: list[dict]) -> dict[str, dict]:
    """`dvc exp show --json` -> {experiment name: {"state", "alpha", "map@3", "mrr@10"}}."""
    found = {}
    for baseline in shown:
        for group in baseline.get("experiments") or []:
            for state in group["revs"]:
                data = state.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                hybrid = (
                    data.get("metrics", {})
                    .get("metrics/retrieval.json", {})
                    .get("data", {})
                    .get("sample", {})
                    .get("hybrid", {})
                )
                found[state.get("name") or group.get("name")] = {
                    "state": (group.get("executor") or {}).get("state"),
                    "alpha": params.get("alpha"),
                    "map@3": hybrid.get("map@3"),
                    "mrr@10": hybrid.get("mrr@10"),
                }
    return found


def wait_for_queue(repo: Path, timeout_s: float) -> str:
    """`dvc queue status` once nothing is Queued or Running (the workers stop by themselves then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = sh("dvc", "queue", "status", cwd=repo).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        assert time.monotonic() < deadline, f"the queue did not finish in {timeout_s} s:\n{status}"
        time.sleep(5)
