"""`ragtune search` and `ragtune export` as a user runs them: a subprocess against a small built workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from search_support import REPO, build_workspace

from ragtune.query import chitchat

QUERY = "뉴턴의 운동 법칙에서 관성이 뭐야?"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("cli-ws"))


def ragtune(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    """`python -m ragtune.cli ARGS` with this checkout's ragtune (not whichever one is installed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "ragtune.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # a subprocess that loads the models (the library tests cover the ranking)
def test_search_prints_one_line_per_result(workspace):
    done = ragtune("search", QUERY, "--top", "3", cwd=workspace)  # the workspace is the current directory
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(".")[0].strip() for line in lines] == ["1", "2", "3"]
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # a subprocess that loads the models (the library tests cover the ranking)
def test_search_json_and_chitchat(workspace):
    done = ragtune("search", QUERY, "--top", "4", "--json", "--root", str(workspace))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 4 and all(list(r) == ["docid", "source", "title", "score", "text"] for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    line = chitchat.shipped_calibration()[0][0]
    done = ragtune("search", line, "--json", "--root", str(workspace))
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_an_unbuilt_workspace_is_one_line_and_exit_2(tmp_path):
    done = ragtune("search", QUERY, "--root", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["ragtune search: run `dvc repro` first (indexes/ is missing)"]
    assert done.stdout == ""


@pytest.mark.slow  # a subprocess export of a built workspace (tests/models/test_export.py covers the refusal)
def test_export_refuses_a_non_empty_directory(workspace, tmp_path):
    (tmp_path / "note.txt").write_text("mine")
    done = ragtune("export", str(tmp_path), "--root", str(workspace))
    assert done.returncode == 2 and "not empty (--force replaces it)" in done.stderr
    assert "Traceback" not in done.stderr
