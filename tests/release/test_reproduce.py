"""reproduce on a tiny two-stage DVC project: restored and regenerated submissions, mismatches, remotes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest
from release_support import (
    DVC_YAML,
    SUBMIT,
    release_tag,
    sh,
)

from ragtune.cli import EXIT_ERROR, EXIT_MISMATCH, EXIT_OK, main
from ragtune.release.reproduce import reproduce
from ragtune.release.tag import format_message, read_record


def test_reproduce_reports_mismatch_against_a_corrupted_record(released, capsys):
    project = released
    record = read_record(project, release_tag(project))
    record["submission"]["sha256"] = "0" * 64
    (project.parent / "message.txt").write_text(format_message("lb/forged", record))
    sh(project, "git", "tag", "-a", "--cleanup=verbatim", "-F", str(project.parent / "message.txt"), "lb/forged")
    capsys.readouterr()

    assert main(["reproduce", "lb/forged"]) == EXIT_MISMATCH
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "0" * 64 in out
    assert hashlib.sha256((project / "submissions" / "submission.csv").read_bytes()).hexdigest() in out


def test_reproduce_shows_first_differing_line_when_a_stage_is_not_deterministic(released, monkeypatch):
    project = released
    tag = release_tag(project)
    shutil.rmtree(project / ".dvc" / "cache")  # nothing cached: every stage must run again
    monkeypatch.setenv("TINY_SALT", "-salted")  # ... and now produces other bytes

    result = reproduce(project, tag, keep=True)
    try:
        assert not result.matched
        assert result.stages_ran == ["prepare", "submit"]
        assert result.reproduced_lines == result.recorded_lines == 3
        assert result.first_difference == (
            1,
            '{"eval_id": 0, "topk": ["doc0"]}',
            '{"eval_id": 0, "topk": ["doc0-salted"]}',
        )
        assert (result.worktree / "submissions" / "submission.csv").exists()  # --keep
    finally:
        sh(project, "git", "worktree", "remove", "--force", str(result.worktree))


def test_a_regenerated_mismatch_names_how_the_releasing_machine_differed(released, capsys):
    project = released
    record = read_record(project, release_tag(project))
    assert set(record["machine"]) == {"cpu", "cpu_features", "machine", "torch"}  # what release recorded
    record["machine"]["cpu"] = "Another CPU"
    record["submission"]["sha256"] = "0" * 64
    (project.parent / "message.txt").write_text(format_message("lb/elsewhere", record))
    sh(project, "git", "tag", "-a", "--cleanup=verbatim", "-F", str(project.parent / "message.txt"), "lb/elsewhere")
    capsys.readouterr()

    assert main(["reproduce", "lb/elsewhere", "--regenerate"]) == EXIT_MISMATCH
    out = capsys.readouterr().out
    assert "released on another kind of machine" in out and "cpu: Another CPU → " in out


@pytest.mark.slow  # a worktree, dvc pull and a stage run
def test_reproduce_pulls_from_a_relative_local_remote_and_runs_no_stage(project, capsys):
    # the remote the project recommends: a directory beside the repo, stored relative in .dvc/config
    sh(project, "dvc", "remote", "add", "-d", "local", "../dvc-remote")
    sh(project, "git", "commit", "-qam", "add local DVC remote")
    assert main(["release", "--score", "0.91"]) == EXIT_OK
    assert "pushed to 'local'" in capsys.readouterr().out
    assert (project.parent / "dvc-remote" / "files" / "md5").is_dir()

    shutil.rmtree(project / ".dvc" / "cache")  # only the remote has the artifacts now
    result = reproduce(project, release_tag(project), jobs=2)
    assert result.matched, result
    assert result.stages_ran == [] and result.pull_problem == ""
    digest = read_record(project, release_tag(project))["submission"]["dvc_lock_md5"]
    assert (
        project / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    ).exists()  # pulled into the shared cache


def test_reproduce_rejects_a_tag_that_is_not_a_release(project, capsys):
    sh(project, "git", "tag", "plain")
    assert main(["reproduce", "plain"]) == EXIT_ERROR
    assert "not an annotated tag" in capsys.readouterr().err
    assert main(["reproduce", "no-such-tag"]) == EXIT_ERROR


def test_reproduce_names_an_unusable_temporary_directory(released, monkeypatch, capsys):
    not_a_directory = released.parent / "plain-file"
    not_a_directory.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_directory))
    assert main(["reproduce", release_tag(released)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"cannot create a temporary directory in {not_a_directory}" in err and "TMPDIR" in err


def test_reproduce_force_reruns_every_stage_and_still_matches(released):
    result = reproduce(released, release_tag(released), force=True)
    assert result.matched and result.stages_ran == ["prepare", "submit"]
    assert result.submission_source == "regenerated"


@pytest.mark.slow  # a worktree, dvc pull and a stage run
def test_reproduce_says_restored_unless_regenerate_reruns_the_stages(released, capsys):
    tag = release_tag(released)
    capsys.readouterr()
    assert main(["reproduce", tag]) == EXIT_OK
    out = capsys.readouterr().out
    assert "submission: restored" in out and "stages ran: none" in out

    assert main(["reproduce", "--regenerate", tag]) == EXIT_OK  # reruns, still byte for byte
    out = capsys.readouterr().out
    assert out.startswith(f"MATCH: {tag}")
    assert "submission: regenerated" in out and "stages ran: prepare, submit" in out


def test_reproduce_says_regenerated_when_the_cache_lacks_the_submission(released):
    shutil.rmtree(released / ".dvc" / "cache")  # nothing cached, no remote: the stages must run
    result = reproduce(released, release_tag(released))
    assert result.matched and result.submission_source == "regenerated"
    assert result.stages_ran == ["prepare", "submit"]


@pytest.mark.slow  # a worktree, dvc pull and a stage run
def test_reproduce_runs_the_tags_own_ragtune_package_not_the_installed_one(project):
    # stage scripts run as `python stages/x.py`: without care, `import ragtune` finds the installed
    # (editable: the main checkout's) package instead of the library code the tag holds
    (project / "ragtune").mkdir()
    (project / "ragtune" / "__init__.py").write_text('MARK = "library at the tag"\n')
    submit = SUBMIT.replace(
        'salt = os.environ.get("TINY_SALT", "")', 'import ragtune\nsalt = getattr(ragtune, "MARK", "?")'
    )
    (project / "stages" / "submit.py").write_text(submit)
    (project / "dvc.yaml").write_text(DVC_YAML.replace("deps: [stages/submit.py,", "deps: [stages/submit.py, ragtune,"))
    env = dict(os.environ, PYTHONPATH=str(project))
    subprocess.run(["dvc", "repro", "-q"], cwd=project, env=env, check=True, capture_output=True)
    assert "library at the tag" in (project / "submissions" / "submission.csv").read_text()
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "a library of its own")
    assert main(["release", "--score", "0.4", "--no-push"]) == EXIT_OK

    result = reproduce(project, release_tag(project), force=True)
    assert result.matched and result.stages_ran == ["prepare", "submit"]
