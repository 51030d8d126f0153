"""Leaderboard releases: record a scored submission in a git tag whose message carries a JSON record.

`release` refuses anything it could not reproduce later (dirty git tree, stale pipeline, a
submission that is not the DVC output recorded in dvc.lock, a stage input that neither git nor
DVC tracks), pushes the DVC artifacts, and writes
an annotated tag `lb/YYYYMMDD-<score>` whose message is a readable header plus a JSON record.
`ragtune.release.reproduce` regenerates the submission from that tag and checks its bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import platform
from importlib import metadata
from pathlib import Path

import yaml

import ragtune
from ragtune.release import machine
from ragtune.release.dvcconfig import default_remote
from ragtune.release.lockfile import locked_output, unreproducible_dependencies
from ragtune.release.vcs import (
    Log,
    ReleaseError,
    describe_changes,
    dirty_paths,
    dvc_command,
    explain_failure,
    git,
    git_toplevel,
    local_metrics,
    pipeline_changes,
    quiet,
    stream,
)

TAG_PREFIX = "lb/"
RECORD_FORMAT = "ragtune-release/1"
RECORD_BEGIN = "--- ragtune release record (JSON) ---"
RECORD_END = "--- end of record ---"
HEADLINE_METRICS = ("map@3", "mrr@10")


def count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def flat_numbers(obj, prefix: str = "") -> dict[str, float]:
    """The numbers in nested metrics, keyed by their dotted path (`source.retriever.metric`)."""
    if isinstance(obj, dict):
        return {
            key: value for name, item in obj.items() for key, value in flat_numbers(item, f"{prefix}{name}.").items()
        }
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return {prefix.rstrip("."): float(obj)}
    return {}


def tag_name(score: float, taken: set[str], day: _dt.date) -> str:
    base = f"{TAG_PREFIX}{day:%Y%m%d}-{score:.4f}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def format_message(tag: str, record: dict) -> str:
    """The tag message: a header people read, then the JSON record `read_record` parses."""
    sub = record["submission"]
    lines = [f"Leaderboard submission {tag}: score {record['leaderboard_score']:.4f}", ""]
    if record.get("note"):
        lines += [f"Note: {record['note']}", ""]
    lines += [
        f"Submission: {sub['path']} ({sub['lines']} lines, {sub['bytes']} bytes)",
        f"  sha256 {sub['sha256']}",
        f"  dvc.lock md5 {sub['dvc_lock_md5']} (stage '{sub['dvc_stage']}')",
        f"Commit: {record['git_commit']}",
    ]
    numbers = [
        (f"{path}: {key}" if key else path, value)
        for path, values in record["metrics"].items()
        for key, value in flat_numbers(values).items()
    ]
    # the leaderboard's metric and its companion first, so the header shows them whatever else is tracked
    numbers.sort(key=lambda item: not item[0].endswith(HEADLINE_METRICS))
    if numbers:
        lines.append("Local metrics:")
        lines += [f"  {name} = {value:g}" for name, value in numbers[:20]]
        if len(numbers) > 20:
            lines.append(f"  ... {len(numbers) - 20} more in the record")
    lines += [
        f"Reproduce: ragtune reproduce {tag}",
        "",
        RECORD_BEGIN,
        json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True),
        RECORD_END,
        "",
    ]
    return "\n".join(lines)


def parse_record(message: str) -> dict:
    start = message.find(RECORD_BEGIN)
    if start < 0:
        raise ReleaseError("the tag message has no ragtune release record: was it made by `ragtune release`?")
    body = message[start + len(RECORD_BEGIN) :].lstrip()
    try:
        record, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"the release record in the tag message is not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ReleaseError(
            f"unknown release record format {record.get('format') if isinstance(record, dict) else record!r}"
        )
    return record


def read_record(git_dir: Path, tag: str) -> dict:
    kind = git(git_dir, "cat-file", "-t", tag, check=False)
    if kind.returncode != 0:
        raise ReleaseError(f"no tag or revision named {tag!r} in {git_dir}")
    if kind.stdout.strip() != "tag":
        raise ReleaseError(
            f"{tag!r} is not an annotated tag (it is a {kind.stdout.strip()}): "
            "releases are annotated tags made by `ragtune release`"
        )
    raw = git(git_dir, "cat-file", "tag", tag).stdout
    _, _, message = raw.partition("\n\n")
    return parse_record(message)


@dataclasses.dataclass
class Release:
    tag: str
    record: dict
    message: str
    pushed_to: str | None  # the DVC remote the artifacts went to, None when not pushed


def release(
    dvc_root: Path,
    score: float,
    note: str = "",
    submission: str = "submissions/submission.csv",
    push: bool = True,
    today: _dt.date | None = None,
    log: Log = quiet,
) -> Release:
    """Record a leaderboard-scored submission as an annotated tag (see module docstring)."""
    if not math.isfinite(score):
        raise ReleaseError(f"the leaderboard score must be a finite number, got {score}")
    dvc_root = Path(dvc_root).resolve()
    git_root = git_toplevel(dvc_root)

    dirty = dirty_paths(git_root)
    if dirty:
        shown = "\n".join(f"  {line}" for line in dirty[:15]) + (
            f"\n  ... and {len(dirty) - 15} more" if len(dirty) > 15 else ""
        )
        raise ReleaseError(
            "refusing to release: the git workspace has uncommitted changes, so the tag would not "
            f"describe what produced the submission. Commit or remove them first:\n{shown}"
        )
    changes = pipeline_changes(dvc_root)
    if changes:
        raise ReleaseError(
            "refusing to release: the pipeline is not up to date (`dvc status`), so the submission "
            f"does not follow from the committed code and params. Run `dvc repro` and commit dvc.lock:\n"
            f"{describe_changes(changes)}"
        )

    sub_path = Path(submission)
    sub_abs = (sub_path if sub_path.is_absolute() else Path.cwd() / sub_path).resolve()
    try:
        relpath = sub_abs.relative_to(dvc_root).as_posix()
    except ValueError:
        raise ReleaseError(f"submission {sub_abs} is outside the DVC project {dvc_root}") from None
    if not sub_abs.is_file():
        raise ReleaseError(f"submission {sub_abs} not found: run `dvc repro` (or `dvc pull`) first")
    locked = locked_output(dvc_root, relpath)
    unreproducible = unreproducible_dependencies(dvc_root)
    if unreproducible:
        raise ReleaseError(
            "refusing to release: these stage dependencies are tracked by neither git nor DVC and "
            "no stage produces them, so a checkout of the tag would not contain them:\n"
            + "\n".join(f"  {dep}" for dep in unreproducible)
            + f"\nTrack them with `dvc add {' '.join(unreproducible)}` (and `dvc push`), commit the "
            ".dvc files, then release."
        )
    data = sub_abs.read_bytes()
    actual_md5 = hashlib.md5(data).hexdigest()
    if actual_md5 != locked.md5:
        raise ReleaseError(
            f"refusing to release: {relpath} has md5 {actual_md5} but dvc.lock (stage "
            f"'{locked.stage}') records {locked.md5}; the file is not the pipeline's output. "
            "Run `dvc checkout` or `dvc repro`."
        )

    params_path = dvc_root / "params.yaml"
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else None
    record = {
        "format": RECORD_FORMAT,
        "leaderboard_score": score,
        "note": note,
        "submission": {
            "path": relpath,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "lines": count_lines(data),
            "dvc_lock_md5": locked.md5,
            "dvc_stage": locked.stage,
            "dvc_out": locked.out,
        },
        "git_commit": git(git_root, "rev-parse", "HEAD").stdout.strip(),
        "dvc_root": dvc_root.relative_to(git_root).as_posix(),
        "params": params,
        "metrics": local_metrics(dvc_root),
        "ragtune_version": ragtune.__version__,
        "dvc_version": metadata.version("dvc"),
        "python_version": platform.python_version(),
        "machine": machine.describe(),
    }

    pushed_to = None
    if push:
        remote = default_remote(dvc_root)
        if remote is None:
            log(
                "no default DVC remote configured: artifacts stay in the local cache only "
                "(`dvc remote add -d <name> <url>` to share them); skipping dvc push"
            )
        else:
            log(f"pushing DVC artifacts to remote '{remote}' ...")
            code, output = stream([*dvc_command(), "push"], dvc_root, log)
            if code != 0:
                raise ReleaseError(
                    explain_failure([*dvc_command(), "push"], dvc_root, output)
                    + "\nno tag was created; fix the remote or release with --no-push"
                )
            pushed_to = remote

    day = today or _dt.date.today()
    taken = set(git(git_root, "tag", "--list", f"{TAG_PREFIX}{day:%Y%m%d}-*").stdout.split())
    tag = tag_name(score, taken, day)
    record["tag"] = tag
    message = format_message(tag, record)
    git(git_root, "tag", "--annotate", "--cleanup=verbatim", "--file", "-", tag, stdin=message)
    return Release(tag, record, message, pushed_to)
