"""The `git` and `dvc` command lines, run as subprocesses, with failures turned into `ReleaseError`s that say
what to do; plus the repository facts releases check (root, dirty files, pipeline status, metrics).

These go through the command lines, the public interfaces of both tools: `dvc status` and
`dvc metrics show` have no `dvc.api` counterpart that keeps their shape (`dvc.api.metrics_show`
merges every metrics file into one dict, losing the file names the release record keeps), and
git has no Python API among the project's dependencies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_DISK_PROBLEMS = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded")

Log = Callable[[str], None]


def quiet(_: str) -> None:
    pass


class ReleaseError(RuntimeError):
    """A refusal or a failed git/dvc step; the message says what to do about it."""


def dvc_command() -> list[str]:
    """The dvc executable on PATH, else the one installed next to this interpreter."""
    found = shutil.which("dvc")
    return [found] if found else [sys.executable, "-m", "dvc"]


def explain_failure(args: list[str], cwd: Path, output: str) -> str:
    dvc_args = dvc_command()
    shown = "dvc " + " ".join(args[len(dvc_args) :]) if args[: len(dvc_args)] == dvc_args else " ".join(args)
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
        raise ReleaseError(explain_failure(args, cwd, proc.stderr + proc.stdout))
    return proc


def git(cwd: Path, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return _run(["git", *args], cwd, check=check, stdin=stdin)


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run([*dvc_command(), *args], cwd, check=check)


def dvc_json(cwd: Path, *args: str):
    proc = dvc(cwd, *args, "--json")
    text = proc.stdout.strip()
    # dvc may print warnings before the JSON document, which starts at the first '{'
    start = text.find("{")
    try:
        return json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"`dvc {' '.join(args)} --json` printed something that is not JSON: {text[:200]!r}") from exc


def stream(args: list[str], cwd: Path, log: Log, env: dict[str, str] | None = None) -> tuple[int, str]:
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


def find_dvc_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds a `.dvc` directory."""
    start = Path(start).resolve()
    for directory in (start, *start.parents):
        if (directory / ".dvc").is_dir():
            return directory
    raise ReleaseError(f"{start} is not inside a DVC project (no .dvc directory found; run `dvc init`)")


def git_toplevel(path: Path) -> Path:
    return Path(git(path, "rev-parse", "--show-toplevel").stdout.strip())


def dirty_paths(git_dir: Path) -> list[str]:
    """Every change git reports: staged, unstaged and untracked (gitignored files are outputs, not changes)."""
    return [line for line in git(git_dir, "status", "--porcelain").stdout.splitlines() if line.strip()]


def pipeline_changes(dvc_root: Path) -> dict:
    """`dvc status --json`: stage -> what changed; empty when the pipeline is up to date."""
    return dvc_json(dvc_root, "status")


def describe_changes(changes: dict, limit: int = 10) -> str:
    lines = []
    for stage, items in list(changes.items())[:limit]:
        parts = []
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict):
                for kind, detail in item.items():
                    parts.append(
                        f"{kind}: "
                        + (
                            ", ".join(f"{k} {v}" for k, v in detail.items())
                            if isinstance(detail, dict)
                            else str(detail)
                        )
                    )
            else:
                parts.append(str(item))
        lines.append(f"  {stage}: {'; '.join(parts)}")
    if len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more")
    return "\n".join(lines)


def local_metrics(dvc_root: Path) -> dict:
    """Every metrics file DVC knows, as {path: values} (from `dvc metrics show --json`)."""
    shown = dvc_json(dvc_root, "metrics", "show")
    workspace = shown.get("", shown.get("workspace", {})) if isinstance(shown, dict) else {}
    metrics = {}
    for path, entry in sorted((workspace.get("data") or {}).items()):
        metrics[path] = entry.get("data", entry) if isinstance(entry, dict) else entry
    return metrics
