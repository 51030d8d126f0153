"""release on a tiny two-stage DVC project: its refusals, the tag's record, and a round trip through reproduce."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import pytest
from release_support import (
    DVC_YAML,
    release_tag,
    sh,
)

from ragtune.cli import EXIT_ERROR, EXIT_OK, main
from ragtune.release.reproduce import reproduce
from ragtune.release.tag import read_record, tag_name


def test_release_refuses_untracked_file(project, capsys):
    (project / "scratch.txt").write_text("notes")
    assert main(["release", "--score", "0.5", "--no-push"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "uncommitted changes" in err and "scratch.txt" in err
    assert sh(project, "git", "tag", "--list") == ""


def test_release_refuses_modified_tracked_file(project, capsys):
    (project / "params.yaml").write_text("n: 4\n")
    assert main(["release", "--score", "0.5", "--no-push"]) == EXIT_ERROR
    assert "params.yaml" in capsys.readouterr().err


def test_release_refuses_stale_pipeline(project, capsys):
    (project / "params.yaml").write_text("n: 4\n")
    sh(project, "git", "commit", "-qam", "change params without running the pipeline")
    assert main(["release", "--score", "0.5", "--no-push"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "not up to date" in err and "prepare" in err
    assert sh(project, "git", "tag", "--list") == ""


def test_release_refuses_file_that_is_not_a_pipeline_output(project, capsys):
    (project / "submissions" / "handmade.csv").write_text("{}\n")
    sh(project, "git", "add", "-f", "submissions/handmade.csv")
    sh(project, "git", "commit", "-qm", "hand-made submission")
    assert main(["release", "--score", "0.5", "--no-push", "--submission", "submissions/handmade.csv"]) == EXIT_ERROR
    assert "not an output recorded" in capsys.readouterr().err


def test_release_tags_record_and_reproduce_matches(project, capsys):
    assert main(["release", "--score", "0.81234", "--note", "first try", "--no-push"]) == EXIT_OK
    tag = release_tag(project)
    assert tag == f"lb/{dt.date.today():%Y%m%d}-0.8123"
    assert "Leaderboard submission" in capsys.readouterr().out

    submission = (project / "submissions" / "submission.csv").read_bytes()
    record = read_record(project, tag)
    assert record["leaderboard_score"] == 0.81234 and record["note"] == "first try"
    assert record["submission"]["path"] == "submissions/submission.csv"
    assert record["submission"]["sha256"] == hashlib.sha256(submission).hexdigest()
    assert record["submission"]["dvc_lock_md5"] == hashlib.md5(submission).hexdigest()
    assert record["submission"]["lines"] == 3 and record["submission"]["dvc_stage"] == "submit"
    assert record["git_commit"] == sh(project, "git", "rev-parse", "HEAD").strip()
    assert record["params"] == {"n": 3}
    assert record["metrics"] == {"metrics/metrics.json": {"map@3": 0.5, "mrr@10": 0.6}}
    message = sh(project, "git", "tag", "--list", "--format=%(contents)", tag)
    assert message.startswith(f"Leaderboard submission {tag}: score 0.8123")
    assert "Note: first try" in message and record["submission"]["sha256"] in message

    # the cache holds everything: nothing runs, the bytes match, the worktree is cleaned up
    assert main(["reproduce", tag]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"MATCH: {tag}") and "stages ran: none" in out
    assert "submission: restored" in out
    assert f"reproduced sha256 {record['submission']['sha256']}" in out
    assert len(sh(project, "git", "worktree", "list").splitlines()) == 1  # only the main checkout


def test_tag_name_adds_a_suffix_when_taken():
    day = dt.date(2025, 3, 9)
    assert tag_name(0.91234, set(), day) == "lb/20250309-0.9123"
    assert tag_name(0.91234, {"lb/20250309-0.9123"}, day) == "lb/20250309-0.9123-2"
    assert tag_name(0.91234, {"lb/20250309-0.9123", "lb/20250309-0.9123-2"}, day) == "lb/20250309-0.9123-3"


@pytest.mark.slow  # git, dvc add and a release in a repository copy
def test_release_refuses_an_input_neither_git_nor_dvc_tracks_until_it_is_dvc_added(project, capsys):
    # a raw input outside git (like data/raw/): the tag alone could not bring it back
    (project / "raw").mkdir()
    (project / "raw" / "extra.txt").write_text("raw input\n")
    (project / ".gitignore").write_text("/raw/\n")
    (project / "dvc.yaml").write_text(DVC_YAML.replace("deps: [stages/prepare.py]", "deps: [stages/prepare.py, raw]"))
    sh(project, "dvc", "repro", "-q")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "depend on raw input")
    assert main(["release", "--score", "0.6", "--no-push"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "tracked by neither git nor DVC" in err and "dvc add raw" in err

    (project / ".gitignore").unlink()
    sh(project, "dvc", "add", "-q", "raw")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "track raw input with DVC")
    assert main(["release", "--score", "0.6", "--no-push"]) == EXIT_OK
    result = reproduce(project, release_tag(project))
    assert result.matched and result.stages_ran == []

    shutil.rmtree(project / ".dvc" / "cache")  # the raw input is now nowhere to be found
    assert main(["reproduce", release_tag(project)]) == EXIT_ERROR
    assert "lacks inputs that no stage produces" in capsys.readouterr().err
