"""A tiny two-stage DVC project built in a temporary directory, for the release and reproduce tests.

The test modules import the fixtures they use (module-scoped: each module builds its own template).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragtune.cli import EXIT_OK, main

PREPARE = """\
import pathlib
n = int(pathlib.Path("params.yaml").read_text().split(":")[1])
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/numbers.txt").write_text("".join(f"{i}\\n" for i in range(n)))
"""
# TINY_SALT is an undeclared input: it lets a test make the pipeline non-reproducible on purpose.
SUBMIT = """\
import json, os, pathlib
numbers = pathlib.Path("data/numbers.txt").read_text().split()
salt = os.environ.get("TINY_SALT", "")
pathlib.Path("submissions").mkdir(exist_ok=True)
pathlib.Path("metrics").mkdir(exist_ok=True)
with open("submissions/submission.csv", "w") as out:
    for i in numbers:
        out.write(json.dumps({"eval_id": int(i), "topk": [f"doc{i}{salt}"]}) + "\\n")
json.dump({"map@3": 0.5, "mrr@10": 0.6}, open("metrics/metrics.json", "w"))
"""
DVC_YAML = """\
stages:
  prepare:
    cmd: python stages/prepare.py
    deps: [stages/prepare.py]
    params: [n]
    outs: [data/numbers.txt]
  submit:
    cmd: python stages/submit.py
    deps: [stages/submit.py, data/numbers.txt]
    outs: [submissions/submission.csv]
    metrics:
    - metrics/metrics.json:
        cache: false
"""


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """Venv tools first on PATH (dvc, and `python` for the stages); no analytics; private DVC site cache."""
    saved = dict(os.environ)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ["DVC_NO_ANALYTICS"] = "1"
    os.environ["DVC_SITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("dvc-site-cache"))
    os.environ.pop("TINY_SALT", None)
    if shutil.which("dvc") is None:
        pytest.skip("dvc is not installed")
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def template(environment, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("template") / "project"
    (repo / "stages").mkdir(parents=True)
    (repo / "stages" / "prepare.py").write_text(PREPARE)
    (repo / "stages" / "submit.py").write_text(SUBMIT)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("n: 3\n")
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "config", "user.email", "test@example.com")
    sh(repo, "git", "config", "user.name", "Test")
    sh(repo, "git", "config", "commit.gpgsign", "false")
    sh(repo, "git", "config", "tag.gpgsign", "false")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny pipeline")
    return repo


@pytest.fixture(scope="module")
def released_template(template, tmp_path_factory) -> Path:
    """The tiny project after `ragtune release --score 0.7 --no-push`."""
    repo = tmp_path_factory.mktemp("released") / "project"
    shutil.copytree(template, repo, symlinks=True)
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert main(["release", "--score", "0.7", "--no-push"]) == EXIT_OK
    finally:
        os.chdir(cwd)
    return repo


def _copy(source: Path, destination: Path, monkeypatch) -> Path:
    """A private copy (its own git repo and DVC cache); cwd becomes its root."""
    shutil.copytree(source, destination, symlinks=True)
    monkeypatch.chdir(destination)
    return destination


@pytest.fixture
def project(template, tmp_path, monkeypatch) -> Path:
    return _copy(template, tmp_path / "project", monkeypatch)


@pytest.fixture
def released(released_template, tmp_path, monkeypatch) -> Path:
    return _copy(released_template, tmp_path / "project", monkeypatch)


def release_tag(repo: Path) -> str:
    return sh(repo, "git", "tag", "--list", "lb/*", "--sort=creatordate").split()[-1]
