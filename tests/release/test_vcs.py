"""The git/dvc wrappers: failures name the command and what to check; repository facts from a scratch git repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ragtune.release import vcs
from ragtune.release.vcs import (
    ReleaseError,
    describe_changes,
    dirty_paths,
    dvc_command,
    explain_failure,
    find_dvc_root,
    git,
)


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def test_find_dvc_root_walks_up_to_the_nearest_dvc_directory(tmp_path):
    (tmp_path / "project" / ".dvc").mkdir(parents=True)
    (tmp_path / "project" / "stages" / "deep").mkdir(parents=True)
    assert find_dvc_root(tmp_path / "project" / "stages" / "deep") == (tmp_path / "project").resolve()
    with pytest.raises(ReleaseError, match="not inside a DVC project"):
        find_dvc_root(tmp_path)


def test_a_failed_git_command_is_named_with_its_output(repo):
    with pytest.raises(ReleaseError) as caught:
        git(repo, "rev-parse", "no-such-revision")
    assert str(caught.value).startswith(f"`git rev-parse no-such-revision` failed in {repo}:")
    assert "no-such-revision" in str(caught.value).split(":", 1)[1]
    assert git(repo, "rev-parse", "no-such-revision", check=False).returncode != 0  # check=False: no raise


def test_a_missing_directory_and_a_missing_program_are_told_apart(tmp_path):
    with pytest.raises(ReleaseError, match="does not exist"):
        git(tmp_path / "gone", "status")
    with pytest.raises(ReleaseError, match="'no-such-program-xyz' not found"):
        vcs._run(["no-such-program-xyz"], tmp_path)


def test_explain_failure_shows_dvc_by_name_and_points_at_a_full_disk(tmp_path):
    output = "\n".join(f"line {i}" for i in range(30)) + "\nERROR: No space left on device"
    message = explain_failure([*dvc_command(), "push"], tmp_path, output)
    assert message.startswith(f"`dvc push` failed in {tmp_path} (no space left on device: check free space")
    assert "line 15" not in message and "line 16" in message  # the last 15 lines only


def test_dirty_paths_lists_untracked_and_modified_files_but_not_ignored_ones(repo):
    (repo / ".gitignore").write_text("outputs/\n")
    git(repo, "add", ".gitignore")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ignore outputs")
    assert dirty_paths(repo) == []
    (repo / "outputs").mkdir()
    (repo / "outputs" / "x.csv").write_text("1\n")
    (repo / "notes.txt").write_text("draft")
    (repo / ".gitignore").write_text("outputs/\n*.tmp\n")
    assert dirty_paths(repo) == [" M .gitignore", "?? notes.txt"]


def test_describe_changes_names_each_stage_and_what_changed():
    changes = {
        "prepare": [{"changed deps": {"params.yaml": "modified"}}],
        "submit": ["always changed"],
        **{f"s{i}": [] for i in range(10)},
    }
    lines = describe_changes(changes).splitlines()
    assert lines[0] == "  prepare: changed deps: params.yaml modified"
    assert lines[1] == "  submit: always changed"
    assert lines[-1] == "  ... and 2 more" and len(lines) == 11


def test_dvc_json_skips_warnings_printed_before_the_document(monkeypatch, tmp_path):
    printed = 'WARNING: something about the cache\n{"prepare": ["changed outs"]}\n'
    monkeypatch.setattr(vcs, "dvc", lambda cwd, *args: subprocess.CompletedProcess(args, 0, printed, ""))
    assert vcs.pipeline_changes(tmp_path) == {"prepare": ["changed outs"]}
    monkeypatch.setattr(vcs, "dvc", lambda cwd, *args: subprocess.CompletedProcess(args, 0, "{not json", ""))
    with pytest.raises(ReleaseError, match="not JSON"):
        vcs.dvc_json(tmp_path, "status")
