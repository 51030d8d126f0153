"""A killed stage, an unwritable directory, a full disk: the pipeline fails cleanly and a rerun recovers exactly.

Kill tests (slow): in a copy of the uninterrupted reference run, rerun one stage (`dvc repro --force
--single-item STAGE`) once to time it (and check it gives the reference bytes), then again, SIGKILL
it part-way through, check it left no half-written output, run `dvc repro` as a user would, and
compare every dvc.lock out hash, the submission bytes, the workspace and the DVC cache with the
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pipeline_support import copy_repository, environment, lock_outs, sh, stage_outs

OUTPUT_DIRS = ("data", "models", "indexes", "runs", "submissions", "metrics", "plots", "reports")

# Runs a stage script with a fault injected into the file system calls ragtune.io uses.
FAULTY_STAGE = """\
import errno, os, runpy, sys
fault, target, script = sys.argv[1:4]
if fault == "unwritable":   # what a directory without write permission answers (root would ignore a chmod)
    real_open = os.open
    def guarded_open(path, flags, mode=0o777, *, dir_fd=None):
        if os.fspath(path).startswith(target) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)
    os.open = guarded_open
elif fault == "full":       # a full disk surfaces at write, flush or fsync; fsync is where it cannot be missed
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync = full
sys.argv = [script]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
"""


def leftovers(repo: Path) -> list[str]:
    """Temporary files or directories of atomic writes (`.name.….tmp`, `.name.….old`) under the output dirs."""
    found = []
    for top in OUTPUT_DIRS:
        for path in (repo / top).rglob(".*") if (repo / top).exists() else []:
            if path.name.endswith((".tmp", ".old")):
                found.append(str(path.relative_to(repo)))
    return found


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- fast: a failing write


@pytest.fixture(scope="module")
def prepare_copy(tmp_path_factory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize(
    "fault, reason",
    [("unwritable", "Permission denied"), ("full", "No space left on device (disk full: free some space and rerun)")],
    ids=["unwritable", "disk-full"],
)
@pytest.mark.slow  # a stage subprocess in a repository copy
def test_a_failed_write_ends_the_stage_with_one_clear_line_and_leaves_nothing(prepare_copy, fault, reason):
    repo = prepare_copy
    shutil.rmtree(repo / "data" / "prepared", ignore_errors=True)
    target = repo / "data" / "prepared"
    done = subprocess.run(
        [sys.executable, "-c", FAULTY_STAGE, fault, str(target), str(repo / "stages" / "prepare.py")],
        cwd=repo,
        env=environment(repo),
        text=True,
        capture_output=True,
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    # prepare's first write: the corpus's analysis, streamed chunk by chunk (ragtune.compute.analysis)
    assert errors == [f"error: cannot write {target / 'morphemes.jsonl'}: {reason}"], done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in target.iterdir()] == []  # no output, no temporary file


@pytest.mark.slow  # a stage subprocess in a repository copy
def test_an_output_path_blocked_by_a_file_is_named(prepare_copy):
    repo = prepare_copy
    shutil.rmtree(repo / "data" / "prepared", ignore_errors=True)
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "prepared").write_text("not a directory")
    try:
        done = subprocess.run(
            [sys.executable, "stages/prepare.py"], cwd=repo, env=environment(repo), text=True, capture_output=True
        )
    finally:
        (repo / "data" / "prepared").unlink()
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"error: cannot write {repo / 'data/prepared/morphemes.jsonl'}: {repo / 'data/prepared'} is not a directory"
    )


# --------------------------------------------------------------------------- slow: kill a stage, rerun


def run_stage(
    repo: Path, stage: str, log: Path, kill_after: float | None = None, whole_run: bool = False
) -> float | None:
    """`dvc repro --force --single-item STAGE`. Without `kill_after`: return how long the stage's
    process lived. With it: that many seconds after the process starts, SIGKILL it and its children
    (with `whole_run`, the whole `dvc repro` process group); return None if it had already ended."""
    args = ["dvc", "repro", "--force", "--single-item", stage]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, cwd=repo, env=environment(repo), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        victim = None
        while victim is None and proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                try:
                    if f"stages/{stage}.py" in " ".join(child.cmdline()):
                        victim = child
                except psutil.Error:
                    pass
            time.sleep(0.02)
        assert victim is not None, f"{stage} never started:\n{log.read_text()[-2000:]}"
        started = time.monotonic()
        if kill_after is None:  # the stage's own lifetime, not DVC's lock update and caching after it
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.wait()
            lived = time.monotonic() - started
            assert proc.wait() == 0, log.read_text()[-2000:]
            return lived
        time.sleep(kill_after)
        try:
            alive = victim.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        if whole_run:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            for process in [victim, *victim.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
        proc.wait()
        return kill_after if alive else None


def assert_cache_is_sound(repo: Path) -> None:
    """Every object in the DVC cache holds exactly the bytes its name (their md5) says."""
    for obj in (repo / ".dvc" / "cache" / "files" / "md5").rglob("*"):
        if obj.is_file():
            assert obj.parent.name + obj.name.removesuffix(".dir") == md5(obj), f"corrupt cache object {obj}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage, fraction, whole_run",
    [
        ("queries", 0.35, False),
        ("index", 0.55, False),
        ("retrieve", 0.2, False),
        ("retrieve", 0.6, True),  # dvc itself dies too, as in a crash or a closed terminal
    ],
    ids=["queries-early", "index-middle", "retrieve-early", "retrieve-late-with-dvc"],
)
def test_a_stage_killed_at_any_moment_reruns_to_the_uninterrupted_result(
    pipeline_reference, tmp_path, stage, fraction, whole_run
):
    reference = pipeline_reference
    repo = tmp_path / "ragtune"
    shutil.copytree(reference.repo, repo, symlinks=True)

    # an uninterrupted rerun first: it must give the reference bytes; a second one times the stage as the killed run
    # will go (the first fills what a rerun reuses: remembered file digests, plans, candidates, so it runs slower)
    run_stage(repo, stage, tmp_path / "uninterrupted.log")
    assert lock_outs(repo) == reference.outs
    lifetime = run_stage(repo, stage, tmp_path / "timed.log")
    killed_at = run_stage(repo, stage, tmp_path / "killed.log", kill_after=fraction * lifetime, whole_run=whole_run)
    assert killed_at is not None, f"{stage} ended before the kill:\n{(tmp_path / 'killed.log').read_text()[-2000:]}"

    # nothing half-written: each output file the killed stage left is absent or complete
    for out, persist in stage_outs(repo, stage):
        if persist:
            continue  # append-only LLM caches, which repair a cut last line themselves
        files = [repo / out] if (repo / out).is_file() else [p for p in (repo / out).rglob("*") if p.is_file()]
        for path in files:
            if not path.name.startswith("."):
                original = reference.repo / path.relative_to(repo)
                assert original.is_file() and md5(path) == md5(original), f"half-written {path.relative_to(repo)}"

    sh("dvc", "repro", cwd=repo)  # what a user does next
    assert lock_outs(repo) == reference.outs
    assert (repo / "submissions" / "submission.csv").read_bytes() == reference.submission
    assert leftovers(repo) == []
    assert sh("dvc", "status", "--json", cwd=repo).stdout.strip() in ("{}", "")
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""
    assert_cache_is_sound(repo)
