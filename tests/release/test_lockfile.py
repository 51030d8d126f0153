"""dvc.lock lookups on a hand-written lock file: the stage and md5 of an out, and inputs nothing tracks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ragtune.release.lockfile import LockedOutput, cache_object, locked_output, unreproducible_dependencies
from ragtune.release.vcs import ReleaseError

LOCK = """\
schema: '2.0'
stages:
  prepare:
    cmd: python stages/prepare.py
    deps:
    - path: stages/prepare.py
      md5: 11111111111111111111111111111111
    - path: raw
      md5: 22222222222222222222222222222222.dir
    - path: added/data.csv
      md5: 33333333333333333333333333333333
    - path: https://example.com/remote.csv
    outs:
    - path: data/numbers.txt
      md5: 44444444444444444444444444444444
  submit:
    cmd: python stages/submit.py
    deps:
    - path: data/numbers.txt
      md5: 44444444444444444444444444444444
    - path: notes
    outs:
    - path: submissions/
      md5: 55555555555555555555555555555555.dir
    - path: metrics/metrics.json
      md5: 66666666666666666666666666666666
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    root = tmp_path / "project"
    (root / ".dvc").mkdir(parents=True)
    (root / "dvc.lock").write_text(LOCK)
    git(root, "init", "-q")
    return root


def test_a_file_out_gives_its_stage_and_md5(project):
    assert locked_output(project, "metrics/metrics.json") == LockedOutput(
        "submit", "metrics/metrics.json", "66666666666666666666666666666666"
    )


def test_a_file_inside_a_directory_out_is_looked_up_in_the_cached_listing(project):
    listing = cache_object(project / ".dvc" / "cache", "55555555555555555555555555555555.dir")
    assert listing == project / ".dvc/cache/files/md5/55/555555555555555555555555555555.dir"
    with pytest.raises(ReleaseError, match="cannot read the directory listing of submissions"):
        locked_output(project, "submissions/submission.csv")
    listing.parent.mkdir(parents=True)
    listing.write_text(json.dumps([{"md5": "77777777777777777777777777777777", "relpath": "submission.csv"}]))
    assert locked_output(project, "submissions/submission.csv") == LockedOutput(
        "submit", "submissions", "77777777777777777777777777777777"
    )
    with pytest.raises(ReleaseError, match="not listed in the DVC output submissions"):
        locked_output(project, "submissions/other.csv")


def test_what_locked_output_refuses(project):
    with pytest.raises(ReleaseError, match="is a directory out in dvc.lock"):
        locked_output(project, "submissions")
    with pytest.raises(ReleaseError, match="not an output recorded in"):
        locked_output(project, "submissions.csv")
    (project / "dvc.lock").unlink()
    with pytest.raises(ReleaseError, match="dvc.lock not found: run `dvc repro`"):
        locked_output(project, "metrics/metrics.json")
    (project / "dvc.lock").write_text("stages: [unclosed\n")
    with pytest.raises(ReleaseError, match="is not valid YAML"):
        locked_output(project, "metrics/metrics.json")


def test_unreproducible_dependencies_are_those_neither_git_nor_dvc_nor_a_stage_provides(project):
    # stages/prepare.py: git; data/numbers.txt: a stage; the URL: not a path; raw, added/, notes: nothing yet
    (project / "stages").mkdir()
    (project / "stages" / "prepare.py").write_text("")
    git(project, "add", "stages/prepare.py")
    assert unreproducible_dependencies(project) == ["added/data.csv", "notes", "raw"]

    (project / "raw.dvc").write_text("outs:\n- path: raw\n  md5: 22222222222222222222222222222222.dir\n")
    (project / "added").mkdir()
    (project / "added" / "data.csv.dvc").write_text(
        "outs:\n- path: data.csv\n  md5: 33333333333333333333333333333333\n"
    )
    (project / "notes").write_text("")
    assert unreproducible_dependencies(project) == ["added/data.csv", "notes", "raw"]  # not yet known to git
    git(project, "add", "raw.dvc", "added/data.csv.dvc", "notes")
    assert unreproducible_dependencies(project) == []


def test_with_present_only_the_unproduced_inputs_a_checkout_lacks(project):
    (project / "raw").mkdir()
    assert unreproducible_dependencies(project, present=lambda dep: (project / dep).exists()) == [
        "added/data.csv",
        "notes",
        "stages/prepare.py",
    ]
