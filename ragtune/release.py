"""Leaderboard releases: record a scored submission in a git tag, and regenerate it from that tag.

`release` refuses anything it could not reproduce later (dirty git tree, stale pipeline, a
submission that is not the DVC output recorded in dvc.lock, a stage input that neither git nor
DVC tracks), pushes the DVC artifacts, and writes
an annotated tag `lb/YYYYMMDD-<score>` whose message is a readable header plus a JSON record.

`reproduce` checks the tagged commit out in a throwaway `git worktree` that shares the main
checkout's DVC cache, pulls what the remote has, runs `dvc repro` (which reruns only what is
missing) and compares the regenerated submission's sha256 with the recorded one.

Everything goes through the `git` and `dvc` command lines, the public interfaces of both tools,
except the worktree's .dvc/config.local, written with configobj as DVC itself does.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import yaml

import ragtune
from ragtune.io import atomic_write

TAG_PREFIX = "lb/"
RECORD_FORMAT = "ragtune-release/1"
RECORD_BEGIN = "--- ragtune release record (JSON) ---"
RECORD_END = "--- end of record ---"
HEADLINE_METRICS = ("map@3", "mrr@10")
_DISK_PROBLEMS = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded")

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class ReleaseError(RuntimeError):
    """A refusal or a failed git/dvc step; the message says what to do about it."""


# --------------------------------------------------------------------------- subprocesses

def dvc_command() -> list[str]:
    """The dvc executable on PATH, else the one installed next to this interpreter."""
    found = shutil.which("dvc")
    return [found] if found else [sys.executable, "-m", "dvc"]


def _explain_failure(args: list[str], cwd: Path, output: str) -> str:
    dvc = dvc_command()
    shown = "dvc " + " ".join(args[len(dvc):]) if args[:len(dvc)] == dvc else " ".join(args)
    message = f"`{shown}` failed in {cwd}"
    for problem in _DISK_PROBLEMS:
        if problem in output:
            message += f" ({problem.lower()}: check free space and permissions of {cwd} and of the paths below)"
            break
    tail = "\n".join(output.strip().splitlines()[-15:])
    return message + (":\n" + tail if tail else "")


def _run(args: list[str], cwd: Path, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, input=stdin)
    except FileNotFoundError as exc:
        if not Path(cwd).is_dir():
            raise ReleaseError(f"directory {cwd} does not exist") from exc
        raise ReleaseError(f"{args[0]!r} not found: is it installed and on PATH?") from exc
    except OSError as exc:
        raise ReleaseError(f"cannot run {args[0]} in {cwd}: {exc.strerror or exc}") from exc
    if check and proc.returncode != 0:
        raise ReleaseError(_explain_failure(args, cwd, proc.stderr + proc.stdout))
    return proc


def _git(cwd: Path, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return _run(["git", *args], cwd, check=check, stdin=stdin)


def _dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run([*dvc_command(), *args], cwd, check=check)


def _dvc_json(cwd: Path, *args: str):
    proc = _dvc(cwd, *args, "--json")
    text = proc.stdout.strip()
    # dvc may print warnings before the JSON document, which starts at the first '{'
    start = text.find("{")
    try:
        return json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"`dvc {' '.join(args)} --json` printed something that is not JSON: {text[:200]!r}") from exc


def _stream(args: list[str], cwd: Path, log: Log, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a long command, echoing its output line by line; return (exit code, output)."""
    try:
        proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    except OSError as exc:
        raise ReleaseError(f"cannot run {args[0]} in {cwd}: {exc.strerror or exc}") from exc
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        log(line.rstrip("\n"))
    return proc.wait(), "".join(lines)


# --------------------------------------------------------------------------- repository facts

def find_dvc_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds a `.dvc` directory."""
    start = Path(start).resolve()
    for directory in (start, *start.parents):
        if (directory / ".dvc").is_dir():
            return directory
    raise ReleaseError(f"{start} is not inside a DVC project (no .dvc directory found; run `dvc init`)")


def git_toplevel(path: Path) -> Path:
    return Path(_git(path, "rev-parse", "--show-toplevel").stdout.strip())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def dirty_paths(git_dir: Path) -> list[str]:
    """Every change git reports: staged, unstaged and untracked (gitignored files are outputs, not changes)."""
    return [line for line in _git(git_dir, "status", "--porcelain").stdout.splitlines() if line.strip()]


def pipeline_changes(dvc_root: Path) -> dict:
    """`dvc status --json`: stage -> what changed; empty when the pipeline is up to date."""
    return _dvc_json(dvc_root, "status")


def describe_changes(changes: dict, limit: int = 10) -> str:
    lines = []
    for stage, items in list(changes.items())[:limit]:
        parts = []
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict):
                for kind, detail in item.items():
                    parts.append(f"{kind}: {', '.join(f'{k} {v}' for k, v in detail.items()) if isinstance(detail, dict) else detail}")
            else:
                parts.append(str(item))
        lines.append(f"  {stage}: {'; '.join(parts)}")
    if len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more")
    return "\n".join(lines)


def dvc_settings(dvc_root: Path) -> dict[str, str]:
    """Effective DVC config, every level merged, paths resolved by DVC (`dvc config --list`)."""
    settings = {}
    for line in _dvc(dvc_root, "config", "--list").stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()   # later levels (repo, then local) win
    return settings


def cache_dir(dvc_root: Path, settings: dict[str, str] | None = None) -> Path:
    settings = dvc_settings(dvc_root) if settings is None else settings
    return Path(settings.get("cache.dir") or dvc_root / ".dvc" / "cache")


def remotes(settings: dict[str, str]) -> dict[str, str]:
    """Remote name -> URL (local paths already absolute)."""
    return {key[len("remote."):-len(".url")]: value for key, value in settings.items()
            if key.startswith("remote.") and key.endswith(".url")}


def _cache_object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


@dataclasses.dataclass(frozen=True)
class LockedOutput:
    stage: str
    out: str   # the dvc.lock out path: the file itself, or the directory that contains it
    md5: str   # md5 of the submission file's bytes as DVC recorded it


def _read_lock(dvc_root: Path) -> dict:
    lock_path = dvc_root / "dvc.lock"
    if not lock_path.exists():
        raise ReleaseError(f"{lock_path} not found: run `dvc repro` and commit dvc.lock before releasing")
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{lock_path} is not valid YAML: {exc}") from exc
    return lock.get("stages") or {}


def _overlaps(path: str, others: set[str]) -> bool:
    """`path` is one of `others`, inside one of them, or contains one of them."""
    return any(path == o or path.startswith(o + "/") or o.startswith(path + "/") for o in others)


def unreproducible_dependencies(dvc_root: Path, present: Callable[[str], bool] | None = None) -> list[str]:
    """Stage dependencies that no stage produces and that neither git nor a .dvc file tracks.

    A checkout of a tag cannot contain them (typically gitignored raw data that was never
    `dvc add`ed), so a reproduction from the tag would fail or silently use other data.
    With `present`, report instead the unproduced dependencies missing from a checkout.
    """
    stages = _read_lock(dvc_root)
    produced = {Path(out["path"]).as_posix().rstrip("/") for entry in stages.values() for out in entry.get("outs") or []}
    deps = sorted({Path(dep["path"]).as_posix().rstrip("/") for entry in stages.values() for dep in entry.get("deps") or []
                   if "://" not in dep["path"] and not Path(dep["path"]).is_absolute()})
    candidates = [dep for dep in deps if not _overlaps(dep, produced)]
    if present is not None:
        return [dep for dep in candidates if not present(dep)]
    if not candidates:
        return []
    tracked = _git(dvc_root, "ls-files", "-z", "--", *candidates).stdout.split("\0")
    tracked = {t.rstrip("/") for t in tracked if t}
    dvc_tracked = set()
    for dvc_file in _git(dvc_root, "ls-files", "-z", "--", "*.dvc").stdout.split("\0"):
        if not dvc_file:
            continue
        try:
            spec = yaml.safe_load((dvc_root / dvc_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for out in spec.get("outs") or []:
            dvc_tracked.add((Path(dvc_file).parent / out["path"]).as_posix().rstrip("/").removeprefix("./"))
    return [dep for dep in candidates if not _overlaps(dep, tracked) and not _overlaps(dep, dvc_tracked)]


def locked_output(dvc_root: Path, relpath: str) -> LockedOutput:
    """Find `relpath` among the outs of dvc.lock (as a file out, or inside a directory out)."""
    for stage, entry in sorted(_read_lock(dvc_root).items()):
        for out in entry.get("outs") or []:
            out_path = Path(out.get("path", "")).as_posix().rstrip("/")
            md5 = str(out.get("md5", ""))
            if out_path == relpath:
                if md5.endswith(".dir"):
                    raise ReleaseError(f"{relpath} is a directory out in dvc.lock; pass the submission file itself")
                return LockedOutput(stage, out_path, md5)
            if relpath.startswith(out_path + "/") and md5.endswith(".dir"):
                manifest = _cache_object(cache_dir(dvc_root), md5)
                try:
                    entries = json.loads(manifest.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as exc:
                    raise ReleaseError(f"cannot read the directory listing of {out_path} from the DVC cache ({manifest}): "
                                       "run `dvc pull` or `dvc repro` first") from exc
                inner = relpath[len(out_path) + 1:]
                for item in entries:
                    if item.get("relpath") == inner:
                        return LockedOutput(stage, out_path, item["md5"])
                raise ReleaseError(f"{relpath} is not listed in the DVC output {out_path} recorded in dvc.lock")
    raise ReleaseError(f"{relpath} is not an output recorded in {dvc_root / 'dvc.lock'}: only submissions produced by the "
                       "pipeline (`dvc repro`) can be released and reproduced")


def local_metrics(dvc_root: Path) -> dict:
    """Every metrics file DVC knows, as {path: values} (from `dvc metrics show --json`)."""
    shown = _dvc_json(dvc_root, "metrics", "show")
    workspace = shown.get("", shown.get("workspace", {})) if isinstance(shown, dict) else {}
    metrics = {}
    for path, entry in sorted((workspace.get("data") or {}).items()):
        metrics[path] = entry.get("data", entry) if isinstance(entry, dict) else entry
    return metrics


def default_remote(dvc_root: Path, settings: dict[str, str] | None = None) -> str | None:
    settings = dvc_settings(dvc_root) if settings is None else settings
    return settings.get("core.remote") or None


def _flat_numbers(obj, prefix: str = "") -> list[tuple[str, float]]:
    if isinstance(obj, dict):
        return [item for key, value in obj.items() for item in _flat_numbers(value, f"{prefix}{key}.")]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [(prefix.rstrip("."), obj)]
    return []


# --------------------------------------------------------------------------- release

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
    numbers = [(f"{path}: {key}" if key else path, value)
               for path, values in record["metrics"].items() for key, value in _flat_numbers(values)]
    # the leaderboard's metric and its companion first, so the header shows them whatever else is tracked
    numbers.sort(key=lambda item: not item[0].endswith(HEADLINE_METRICS))
    if numbers:
        lines.append("Local metrics:")
        lines += [f"  {name} = {value:g}" for name, value in numbers[:20]]
        if len(numbers) > 20:
            lines.append(f"  ... {len(numbers) - 20} more in the record")
    lines += [f"Reproduce: ragtune reproduce {tag}", "", RECORD_BEGIN,
              json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True), RECORD_END, ""]
    return "\n".join(lines)


def parse_record(message: str) -> dict:
    start = message.find(RECORD_BEGIN)
    if start < 0:
        raise ReleaseError("the tag message has no ragtune release record: was it made by `ragtune release`?")
    body = message[start + len(RECORD_BEGIN):].lstrip()
    try:
        record, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"the release record in the tag message is not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ReleaseError(f"unknown release record format {record.get('format') if isinstance(record, dict) else record!r}")
    return record


def read_record(git_dir: Path, tag: str) -> dict:
    kind = _git(git_dir, "cat-file", "-t", tag, check=False)
    if kind.returncode != 0:
        raise ReleaseError(f"no tag or revision named {tag!r} in {git_dir}")
    if kind.stdout.strip() != "tag":
        raise ReleaseError(f"{tag!r} is not an annotated tag (it is a {kind.stdout.strip()}): "
                           "releases are annotated tags made by `ragtune release`")
    raw = _git(git_dir, "cat-file", "tag", tag).stdout
    _, _, message = raw.partition("\n\n")
    return parse_record(message)


@dataclasses.dataclass
class Release:
    tag: str
    record: dict
    message: str
    pushed_to: str | None   # the DVC remote the artifacts went to, None when not pushed


def release(dvc_root: Path, score: float, note: str = "", submission: str = "submissions/submission.csv",
            push: bool = True, today: _dt.date | None = None, log: Log = _quiet) -> Release:
    """Record a leaderboard-scored submission as an annotated tag (see module docstring)."""
    if not math.isfinite(score):
        raise ReleaseError(f"the leaderboard score must be a finite number, got {score}")
    dvc_root = Path(dvc_root).resolve()
    git_root = git_toplevel(dvc_root)

    dirty = dirty_paths(git_root)
    if dirty:
        shown = "\n".join(f"  {line}" for line in dirty[:15]) + (f"\n  ... and {len(dirty) - 15} more" if len(dirty) > 15 else "")
        raise ReleaseError("refusing to release: the git workspace has uncommitted changes, so the tag would not "
                           f"describe what produced the submission. Commit or remove them first:\n{shown}")
    changes = pipeline_changes(dvc_root)
    if changes:
        raise ReleaseError("refusing to release: the pipeline is not up to date (`dvc status`), so the submission "
                           f"does not follow from the committed code and params. Run `dvc repro` and commit dvc.lock:\n"
                           f"{describe_changes(changes)}")

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
        raise ReleaseError("refusing to release: these stage dependencies are tracked by neither git nor DVC and "
                           "no stage produces them, so a checkout of the tag would not contain them:\n"
                           + "\n".join(f"  {dep}" for dep in unreproducible)
                           + f"\nTrack them with `dvc add {' '.join(unreproducible)}` (and `dvc push`), commit the "
                             ".dvc files, then release.")
    data = sub_abs.read_bytes()
    actual_md5 = hashlib.md5(data).hexdigest()
    if actual_md5 != locked.md5:
        raise ReleaseError(f"refusing to release: {relpath} has md5 {actual_md5} but dvc.lock (stage "
                           f"'{locked.stage}') records {locked.md5}; the file is not the pipeline's output. "
                           "Run `dvc checkout` or `dvc repro`.")

    params_path = dvc_root / "params.yaml"
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else None
    record = {
        "format": RECORD_FORMAT,
        "leaderboard_score": score,
        "note": note,
        "submission": {"path": relpath, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                       "lines": count_lines(data), "dvc_lock_md5": locked.md5, "dvc_stage": locked.stage,
                       "dvc_out": locked.out},
        "git_commit": _git(git_root, "rev-parse", "HEAD").stdout.strip(),
        "dvc_root": dvc_root.relative_to(git_root).as_posix(),
        "params": params,
        "metrics": local_metrics(dvc_root),
        "ragtune_version": ragtune.__version__,
        "dvc_version": metadata.version("dvc"),
        "python_version": platform.python_version(),
    }

    pushed_to = None
    if push:
        remote = default_remote(dvc_root)
        if remote is None:
            log("no default DVC remote configured: artifacts stay in the local cache only "
                "(`dvc remote add -d <name> <url>` to share them); skipping dvc push")
        else:
            log(f"pushing DVC artifacts to remote '{remote}' ...")
            code, output = _stream([*dvc_command(), "push"], dvc_root, log)
            if code != 0:
                raise ReleaseError(_explain_failure([*dvc_command(), "push"], dvc_root, output)
                                   + "\nno tag was created; fix the remote or release with --no-push")
            pushed_to = remote

    day = today or _dt.date.today()
    taken = set(_git(git_root, "tag", "--list", f"{TAG_PREFIX}{day:%Y%m%d}-*").stdout.split())
    tag = tag_name(score, taken, day)
    record["tag"] = tag
    message = format_message(tag, record)
    _git(git_root, "tag", "--annotate", "--cleanup=verbatim", "--file", "-", tag, stdin=message)
    return Release(tag, record, message, pushed_to)


# --------------------------------------------------------------------------- reproduce

_RAN = re.compile(r"^Running stage '([^']+)'")
_RESTORED = re.compile(r"^Stage '([^']+)' is cached - skipping run")


@dataclasses.dataclass
class Reproduction:
    tag: str
    matched: bool
    recorded_sha256: str
    reproduced_sha256: str | None      # None when the pipeline did not produce the file
    stages_ran: list[str]              # stages whose command ran
    stages_restored: list[str]         # stages restored from DVC's run cache without running
    seconds: dict[str, float]          # pull, repro, total
    worktree: Path | None              # kept worktree, when asked
    recorded_lines: int
    reproduced_lines: int | None = None
    first_difference: tuple[int, str | None, str | None] | None = None  # (line number, recorded, reproduced)
    recorded_content_available: bool = False
    pull_problem: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    # "restored": the stage that writes the submission did not run (its output came from the DVC cache,
    # the remote or DVC's run cache); "regenerated": it ran in the worktree (always with regenerate=True)
    submission_source: str = "restored"


def _first_difference(recorded: bytes, reproduced: bytes) -> tuple[int, str | None, str | None] | None:
    old, new = recorded.splitlines(), reproduced.splitlines()
    for number, (a, b) in enumerate(zip(old, new), start=1):
        if a != b:
            return number, a.decode("utf-8", "replace"), b.decode("utf-8", "replace")
    if len(old) != len(new):
        number = min(len(old), len(new)) + 1
        return (number, old[number - 1].decode("utf-8", "replace") if len(old) >= number else None,
                new[number - 1].decode("utf-8", "replace") if len(new) >= number else None)
    return None


def _recorded_bytes(record: dict, dvc_root: Path, cache: Path) -> bytes | None:
    """The released submission's bytes, if the main checkout or the cache still holds them."""
    sub = record["submission"]
    for candidate in (dvc_root / sub["path"], _cache_object(cache, sub.get("dvc_lock_md5", "xx"))):
        try:
            data = candidate.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == sub["sha256"]:
            return data
    return None


def _share_dvc_config(main_root: Path, tree_root: Path, settings: dict[str, str]) -> None:
    """Point the worktree at the main checkout's DVC cache and local remotes.

    A worktree gets the tracked .dvc/config but neither .dvc/cache nor .dvc/config.local (both
    gitignored), and DVC resolves a relative path in a config file against that file's directory,
    which for the worktree is elsewhere: a relative remote such as `../../dvc-remote` would point
    next to the worktree. So the worktree's config.local gets the main checkout's config.local plus
    the absolute cache dir and local remote URLs the main checkout resolves. It is written with
    configobj, the library DVC itself reads and writes its config files with (one `dvc config`
    call per setting would cost a second each).
    """
    from configobj import ConfigObj

    main_local = main_root / ".dvc" / "config.local"
    config = ConfigObj(str(main_local)) if main_local.exists() else ConfigObj()
    config.setdefault("cache", {})["dir"] = str(cache_dir(main_root, settings))
    for name, url in sorted(remotes(settings).items()):
        if "://" in url or not Path(url).is_absolute():
            continue   # a cloud URL means the same thing everywhere
        config.setdefault(f'remote "{name}"', {})["url"] = url
    config.filename = None
    with atomic_write(tree_root / ".dvc" / "config.local", "wb", encoding=None) as handle:
        config.write(handle)


def _own_code_first(tree: Path) -> dict[str, str]:
    """The environment for the worktree's stages: its own `ragtune` package ahead of any installed one.

    Stage scripts run as `python stages/x.py`, so the worktree root is not on sys.path and
    `import ragtune` would find the installed package, which for an editable install is the main
    checkout's working copy: the tag's library code would not be the code that runs.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tree), env.get("PYTHONPATH"))))
    return env


def reproduce(dvc_root: Path, tag: str, keep: bool = False, jobs: int | None = None, force: bool = False,
              log: Log = _quiet, regenerate: bool = False) -> Reproduction:
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
    tagged_commit = _git(git_root, "rev-parse", f"{tag}^{{commit}}").stdout.strip()
    if record.get("git_commit") and record["git_commit"] != tagged_commit:
        warnings.append(f"the record names commit {record['git_commit']} but the tag points at {tagged_commit}")
    settings = dvc_settings(dvc_root)
    main_cache = cache_dir(dvc_root, settings)
    try:
        scratch = Path(tempfile.mkdtemp(prefix="ragtune-reproduce-"))
    except OSError as exc:
        raise ReleaseError(f"cannot create a temporary directory in {tempfile.gettempdir()}: {exc.strerror or exc} "
                           "(set TMPDIR to a writable directory with enough space)") from exc
    tree = scratch / "worktree"
    tree_root = tree / record.get("dvc_root", ".")
    added = False
    try:
        log(f"checking out {tag} ({tagged_commit[:12]}) in {tree}")
        _git(git_root, "worktree", "add", "--detach", str(tree), tag)
        added = True
        _share_dvc_config(dvc_root, tree_root, settings)

        # Fetch what the remote has; a missing object just means its stage will run.
        pull_started, pull_problem = time.monotonic(), ""
        jobs_args = ["--jobs", str(jobs)] if jobs else []
        remote = default_remote(dvc_root, settings)
        if remote is not None:
            proc = _dvc(tree_root, "pull", "--remote", remote, *jobs_args, check=False)
            if proc.returncode != 0:
                pull_problem = ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1]
                log(f"dvc pull could not fetch everything ({pull_problem}); the stages concerned will run")
                _dvc(tree_root, "checkout", check=False)
        else:
            _dvc(tree_root, "checkout", check=False)   # from the shared cache alone
        pull_seconds = time.monotonic() - pull_started
        absent = unreproducible_dependencies(tree_root, present=lambda dep: (tree_root / dep).exists())
        if absent:
            raise ReleaseError(f"the checkout of {tag} lacks inputs that no stage produces and that neither the "
                               f"DVC cache nor the remote could supply: {', '.join(absent)}"
                               + (f" (dvc pull: {pull_problem})" if pull_problem else "")
                               + "\npush them from a checkout that has them (`dvc push`), then retry")

        repro_started = time.monotonic()
        repro_args = [*dvc_command(), "repro", *(["--force"] if force else [])]
        code, output = _stream(repro_args, tree_root, log, env=_own_code_first(tree))
        repro_seconds = time.monotonic() - repro_started
        if code != 0:
            raise ReleaseError(_explain_failure(repro_args, tree_root, output)
                               + ("" if keep else "\n(rerun with --keep to inspect the worktree)"))
        ran = [m.group(1) for m in map(_RAN.match, output.splitlines()) if m]
        restored = [m.group(1) for m in map(_RESTORED.match, output.splitlines()) if m]

        produced = tree_root / sub["path"]
        reproduced = produced.read_bytes() if produced.is_file() else None
        result = Reproduction(
            tag=tag, matched=False, recorded_sha256=sub["sha256"],
            reproduced_sha256=hashlib.sha256(reproduced).hexdigest() if reproduced is not None else None,
            stages_ran=ran, stages_restored=restored,
            seconds={"pull": round(pull_seconds, 2), "repro": round(repro_seconds, 2)},
            worktree=tree if keep else None, recorded_lines=sub["lines"],
            reproduced_lines=count_lines(reproduced) if reproduced is not None else None,
            pull_problem=pull_problem, warnings=warnings)
        result.matched = result.reproduced_sha256 == result.recorded_sha256
        producer = sub.get("dvc_stage")
        if (producer in ran) if producer else bool(ran):
            result.submission_source = "regenerated"
        if not result.matched and reproduced is not None:
            recorded = _recorded_bytes(record, dvc_root, main_cache)
            result.recorded_content_available = recorded is not None
            if recorded is not None:
                result.first_difference = _first_difference(recorded, reproduced)
    finally:
        if not keep:
            if added:
                _git(git_root, "worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(scratch, ignore_errors=True)
            _git(git_root, "worktree", "prune", check=False)
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
    lines.append(f"  submission: {result.submission_source}"
                 + (" (its stage ran in the worktree)" if result.submission_source == "regenerated"
                    else " (from the DVC cache, remote or run cache; `--regenerate` reruns the stages)"))
    lines.append(f"  stages ran: {', '.join(result.stages_ran) or 'none'}"
                 + (f"; restored from run cache: {', '.join(result.stages_restored)}" if result.stages_restored else ""))
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
    if result.worktree is not None:
        lines.append(f"  worktree kept at {result.worktree} (remove with `git worktree remove --force {result.worktree}`)")
    s = result.seconds
    lines.append(f"  time: {s.get('total', 0):.1f} s (pull/checkout {s.get('pull', 0):.1f} s, repro {s.get('repro', 0):.1f} s)")
    return "\n".join(lines)
