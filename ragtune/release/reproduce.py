"""Regenerate a released submission from its tag and compare it byte for byte with the record.

`reproduce` checks the tagged commit out in a throwaway `git worktree` that shares the main
checkout's DVC cache, pulls what the remote has, runs `dvc repro` (which reruns only what is
missing) and compares the regenerated submission's sha256 with the recorded one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ragtune.release import machine
from ragtune.release.dvcconfig import cache_dir, default_remote, dvc_config, share_config
from ragtune.release.lockfile import cache_object, unreproducible_dependencies
from ragtune.release.tag import count_lines, read_record
from ragtune.release.vcs import Log, ReleaseError, dvc, dvc_command, explain_failure, git, git_toplevel, quiet, stream

_RAN = re.compile(r"^Running stage '([^']+)'")
_RESTORED = re.compile(r"^Stage '([^']+)' is cached - skipping run")


@dataclasses.dataclass
class Reproduction:
    tag: str
    matched: bool
    recorded_sha256: str
    reproduced_sha256: str | None  # None when the pipeline did not produce the file
    stages_ran: list[str]  # stages whose command ran
    stages_restored: list[str]  # stages restored from DVC's run cache without running
    seconds: dict[str, float]  # pull, repro, total
    worktree: Path | None  # kept worktree, when asked
    recorded_lines: int
    reproduced_lines: int | None = None
    first_difference: tuple[int, str | None, str | None] | None = None  # (line number, recorded, reproduced)
    recorded_content_available: bool = False
    pull_problem: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    # "restored": the stage that writes the submission did not run (its output came from the DVC cache,
    # the remote or DVC's run cache); "regenerated": it ran in the worktree (always with regenerate=True)
    submission_source: str = "restored"
    # on a mismatch: how this machine differs from the releasing one ("cpu: A → B", ...), see ragtune.release.machine
    machine_differences: list[str] = dataclasses.field(default_factory=list)


def _first_difference(recorded: bytes, reproduced: bytes) -> tuple[int, str | None, str | None] | None:
    old, new = recorded.splitlines(), reproduced.splitlines()
    for number, (a, b) in enumerate(zip(old, new), start=1):
        if a != b:
            return number, a.decode("utf-8", "replace"), b.decode("utf-8", "replace")
    if len(old) != len(new):
        number = min(len(old), len(new)) + 1
        return (
            number,
            old[number - 1].decode("utf-8", "replace") if len(old) >= number else None,
            new[number - 1].decode("utf-8", "replace") if len(new) >= number else None,
        )
    return None


def _recorded_bytes(record: dict, dvc_root: Path, cache: Path) -> bytes | None:
    """The released submission's bytes, if the main checkout or the cache still holds them."""
    sub = record["submission"]
    for candidate in (dvc_root / sub["path"], cache_object(cache, sub.get("dvc_lock_md5", "xx"))):
        try:
            data = candidate.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == sub["sha256"]:
            return data
    return None


def _own_code_first(tree: Path) -> dict[str, str]:
    """The environment for the worktree's stages: its own `ragtune` package ahead of any installed one.

    Stage scripts run as `python stages/x.py`, so the worktree root is not on sys.path and
    `import ragtune` would find the installed package, which for an editable install is the main
    checkout's working copy: the tag's library code would not be the code that runs.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tree), env.get("PYTHONPATH"))))
    return env


def reproduce(
    dvc_root: Path,
    tag: str,
    keep: bool = False,
    jobs: int | None = None,
    force: bool = False,
    log: Log = quiet,
    regenerate: bool = False,
) -> Reproduction:
    """Regenerate the submission recorded in `tag` and compare it byte for byte (see module docstring).

    `regenerate` (alias `force`): rerun every stage (`dvc repro --force`) instead of restoring cached
    outputs; persisted outputs (LLM answers, the candidate memo) are still pulled and replayed.
    """
    force = force or regenerate
    started = time.monotonic()
    dvc_root = Path(dvc_root).resolve()
    git_root = git_toplevel(dvc_root)
    record = read_record(git_root, tag)
    sub = record["submission"]
    warnings = []
    tagged_commit = git(git_root, "rev-parse", f"{tag}^{{commit}}").stdout.strip()
    if record.get("git_commit") and record["git_commit"] != tagged_commit:
        warnings.append(f"the record names commit {record['git_commit']} but the tag points at {tagged_commit}")
    config = dvc_config(dvc_root)
    main_cache = cache_dir(dvc_root, config)
    try:
        scratch = Path(tempfile.mkdtemp(prefix="ragtune-reproduce-"))
    except OSError as exc:
        raise ReleaseError(
            f"cannot create a temporary directory in {tempfile.gettempdir()}: {exc.strerror or exc} "
            "(set TMPDIR to a writable directory with enough space)"
        ) from exc
    tree = scratch / "worktree"
    tree_root = tree / record.get("dvc_root", ".")
    added = False
    try:
        log(f"checking out {tag} ({tagged_commit[:12]}) in {tree}")
        git(git_root, "worktree", "add", "--detach", str(tree), tag)
        added = True
        share_config(dvc_root, tree_root, config)

        # Fetch what the remote has; a missing object just means its stage will run.
        pull_started, pull_problem = time.monotonic(), ""
        jobs_args = ["--jobs", str(jobs)] if jobs else []
        remote = default_remote(dvc_root, config)
        if remote is not None:
            proc = dvc(tree_root, "pull", "--remote", remote, *jobs_args, check=False)
            if proc.returncode != 0:
                pull_problem = ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1]
                log(f"dvc pull could not fetch everything ({pull_problem}); the stages concerned will run")
                dvc(tree_root, "checkout", check=False)
        else:
            dvc(tree_root, "checkout", check=False)  # from the shared cache alone
        pull_seconds = time.monotonic() - pull_started
        absent = unreproducible_dependencies(tree_root, present=lambda dep: (tree_root / dep).exists())
        if absent:
            raise ReleaseError(
                f"the checkout of {tag} lacks inputs that no stage produces and that neither the "
                f"DVC cache nor the remote could supply: {', '.join(absent)}"
                + (f" (dvc pull: {pull_problem})" if pull_problem else "")
                + "\npush them from a checkout that has them (`dvc push`), then retry"
            )

        repro_started = time.monotonic()
        repro_args = [*dvc_command(), "repro", *(["--force"] if force else [])]
        code, output = stream(repro_args, tree_root, log, env=_own_code_first(tree))
        repro_seconds = time.monotonic() - repro_started
        if code != 0:
            raise ReleaseError(
                explain_failure(repro_args, tree_root, output)
                + ("" if keep else "\n(rerun with --keep to inspect the worktree)")
            )
        ran = [m.group(1) for m in map(_RAN.match, output.splitlines()) if m]
        restored = [m.group(1) for m in map(_RESTORED.match, output.splitlines()) if m]

        produced = tree_root / sub["path"]
        reproduced = produced.read_bytes() if produced.is_file() else None
        result = Reproduction(
            tag=tag,
            matched=False,
            recorded_sha256=sub["sha256"],
            reproduced_sha256=hashlib.sha256(reproduced).hexdigest() if reproduced is not None else None,
            stages_ran=ran,
            stages_restored=restored,
            seconds={"pull": round(pull_seconds, 2), "repro": round(repro_seconds, 2)},
            worktree=tree if keep else None,
            recorded_lines=sub["lines"],
            reproduced_lines=count_lines(reproduced) if reproduced is not None else None,
            pull_problem=pull_problem,
            warnings=warnings,
        )
        result.matched = result.reproduced_sha256 == result.recorded_sha256
        producer = sub.get("dvc_stage")
        if (producer in ran) if producer else bool(ran):
            result.submission_source = "regenerated"
        if not result.matched:
            result.machine_differences = machine.differences(record.get("machine"), machine.describe())
        if not result.matched and reproduced is not None:
            recorded = _recorded_bytes(record, dvc_root, main_cache)
            result.recorded_content_available = recorded is not None
            if recorded is not None:
                result.first_difference = _first_difference(recorded, reproduced)
    finally:
        if not keep:
            if added:
                git(git_root, "worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(scratch, ignore_errors=True)
            git(git_root, "worktree", "prune", check=False)
    result.seconds["total"] = round(time.monotonic() - started, 2)
    return result


def describe_reproduction(result: Reproduction) -> str:
    """What a person needs to read: verdict, timing, and on a mismatch, what differed."""
    lines = [f"warning: {w}" for w in result.warnings]
    verdict = "MATCH" if result.matched else "MISMATCH"
    lines.append(f"{verdict}: {result.tag}")
    lines.append(f"  recorded   sha256 {result.recorded_sha256}  ({result.recorded_lines} lines)")
    got = result.reproduced_sha256 or "(no file produced)"
    got_lines = f"  ({result.reproduced_lines} lines)" if result.reproduced_lines is not None else ""
    lines.append(f"  reproduced sha256 {got}{got_lines}")
    lines.append(
        f"  submission: {result.submission_source}"
        + (
            " (its stage ran in the worktree)"
            if result.submission_source == "regenerated"
            else " (from the DVC cache, remote or run cache; `--regenerate` reruns the stages)"
        )
    )
    lines.append(
        f"  stages ran: {', '.join(result.stages_ran) or 'none'}"
        + (f"; restored from run cache: {', '.join(result.stages_restored)}" if result.stages_restored else "")
    )
    if result.pull_problem:
        lines.append(f"  dvc pull: {result.pull_problem}")
    if not result.matched:
        if result.first_difference is not None:
            number, old, new = result.first_difference
            lines.append(f"  first differing line: {number}")
            lines.append(f"    recorded:   {old if old is not None else '(end of file)'}")
            lines.append(f"    reproduced: {new if new is not None else '(end of file)'}")
        elif result.reproduced_sha256 is not None:
            lines.append("  the recorded submission is no longer in the workspace or DVC cache, so no line diff")
        if result.machine_differences and result.submission_source == "regenerated":
            lines.append(
                "  released on another kind of machine (kernels, hence last bits, differ by CPU and GPU; "
                "docs/reproducibility.md):"
            )
            lines.extend(f"    {difference}" for difference in result.machine_differences)
    if result.worktree is not None:
        lines.append(
            f"  worktree kept at {result.worktree} (remove with `git worktree remove --force {result.worktree}`)"
        )
    s = result.seconds
    lines.append(
        f"  time: {s.get('total', 0):.1f} s (pull/checkout {s.get('pull', 0):.1f} s, repro {s.get('repro', 0):.1f} s)"
    )
    return "\n".join(lines)
