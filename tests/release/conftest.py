"""Fixtures of the release and reproduce tests: a tiny two-stage DVC project (tests/release_support.py),
built once per test module, and a private copy of it per test."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from release_support import DVC_YAML, PREPARE, SUBMIT, sh

from ragtune.cli import EXIT_OK, main


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
