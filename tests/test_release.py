"""release / reproduce on a tiny two-stage DVC project built in a temporary directory."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ragtune.cli import EXIT_ERROR, EXIT_MISMATCH, EXIT_OK, main
from ragtune.release import format_message, read_record, reproduce, tag_name

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
    assert len(sh(project, "git", "worktree", "list").splitlines()) == 1   # only the main checkout


def test_tag_name_adds_a_suffix_when_taken():
    day = dt.date(2025, 3, 9)
    assert tag_name(0.91234, set(), day) == "lb/20250309-0.9123"
    assert tag_name(0.91234, {"lb/20250309-0.9123"}, day) == "lb/20250309-0.9123-2"
    assert tag_name(0.91234, {"lb/20250309-0.9123", "lb/20250309-0.9123-2"}, day) == "lb/20250309-0.9123-3"


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
    shutil.rmtree(project / ".dvc" / "cache")          # nothing cached: every stage must run again
    monkeypatch.setenv("TINY_SALT", "-salted")          # ... and now produces other bytes

    result = reproduce(project, tag, keep=True)
    try:
        assert not result.matched
        assert result.stages_ran == ["prepare", "submit"]
        assert result.reproduced_lines == result.recorded_lines == 3
        assert result.first_difference == (1, '{"eval_id": 0, "topk": ["doc0"]}',
                                           '{"eval_id": 0, "topk": ["doc0-salted"]}')
        assert (result.worktree / "submissions" / "submission.csv").exists()   # --keep
    finally:
        sh(project, "git", "worktree", "remove", "--force", str(result.worktree))


def test_reproduce_pulls_from_a_relative_local_remote_and_runs_no_stage(project, capsys):
    # the remote the project recommends: a directory beside the repo, stored relative in .dvc/config
    sh(project, "dvc", "remote", "add", "-d", "local", "../dvc-remote")
    sh(project, "git", "commit", "-qam", "add local DVC remote")
    assert main(["release", "--score", "0.91"]) == EXIT_OK
    assert "pushed to 'local'" in capsys.readouterr().out
    assert (project.parent / "dvc-remote" / "files" / "md5").is_dir()

    shutil.rmtree(project / ".dvc" / "cache")          # only the remote has the artifacts now
    result = reproduce(project, release_tag(project), jobs=2)
    assert result.matched, result
    assert result.stages_ran == [] and result.pull_problem == ""
    digest = read_record(project, release_tag(project))["submission"]["dvc_lock_md5"]
    assert (project / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]).exists()  # pulled into the shared cache


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


def test_reproduce_says_restored_unless_regenerate_reruns_the_stages(released, capsys):
    tag = release_tag(released)
    capsys.readouterr()
    assert main(["reproduce", tag]) == EXIT_OK
    out = capsys.readouterr().out
    assert "submission: restored" in out and "stages ran: none" in out

    assert main(["reproduce", "--regenerate", tag]) == EXIT_OK   # reruns, still byte for byte
    out = capsys.readouterr().out
    assert out.startswith(f"MATCH: {tag}")
    assert "submission: regenerated" in out and "stages ran: prepare, submit" in out


def test_reproduce_says_regenerated_when_the_cache_lacks_the_submission(released):
    shutil.rmtree(released / ".dvc" / "cache")          # nothing cached, no remote: the stages must run
    result = reproduce(released, release_tag(released))
    assert result.matched and result.submission_source == "regenerated"
    assert result.stages_ran == ["prepare", "submit"]


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

    shutil.rmtree(project / ".dvc" / "cache")             # the raw input is now nowhere to be found
    assert main(["reproduce", release_tag(project)]) == EXIT_ERROR
    assert "lacks inputs that no stage produces" in capsys.readouterr().err


def test_reproduce_runs_the_tags_own_ragtune_package_not_the_installed_one(project):
    # stage scripts run as `python stages/x.py`: without care, `import ragtune` finds the installed
    # (editable: the main checkout's) package instead of the library code the tag holds
    (project / "ragtune").mkdir()
    (project / "ragtune" / "__init__.py").write_text('MARK = "library at the tag"\n')
    submit = SUBMIT.replace('salt = os.environ.get("TINY_SALT", "")', 'import ragtune\nsalt = getattr(ragtune, "MARK", "?")')
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
