"""Shared fixtures: one uninterrupted pipeline run on the sample, reused by every test that needs it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pipeline_support import committed_copy, lock_outs, sh


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    repo: Path  # a committed git repo; dvc.lock and the DVC cache hold every output
    outs: dict[str, str]  # dvc.lock `stage:path` -> md5
    submission: bytes


@pytest.fixture(scope="session")
def pipeline_reference(tmp_path_factory) -> PipelineRun:
    """`dvc repro` of the sample pipeline (short training) from clean, uninterrupted, then committed.

    Tests copy `repo` before changing anything in it.
    """
    repo = committed_copy(tmp_path_factory.mktemp("reference") / "ragtune")
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "reference run", cwd=repo)
    return PipelineRun(repo, lock_outs(repo), (repo / "submissions" / "submission.csv").read_bytes())
