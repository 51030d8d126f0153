"""Reproducibility figures on the real pipeline (embedded default, data=sample), from fresh clones.

1. Two fresh `git clone`s of the current commit each run `dvc repro` from an empty cache; the
   submission sha256 and every DVC output hash in their dvc.lock files are compared (with each
   other and with the committed dvc.lock), and differing files inside directory outputs are named.
2. Clone A: `ragtune release --score S` pushing to a temporary DVC remote (never the project's).
3. A third fresh clone, with an empty cache and that remote: `ragtune reproduce TAG` — verdict, wall
   time, and whether any stage ran.

Usage: python benchmarks/reproduce.py [--score 0.5] [--keep] [--workdir DIR]
Timings depend on the machine's load (printed with them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RAN = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)


def venv_bin() -> Path:
    """The repository's own virtualenv, else the interpreter running this script."""
    own = ROOT / ".venv" / "bin"
    return own if (own / "python").exists() else Path(sys.executable).parent


def environment(clone: Path) -> dict[str, str]:
    # PYTHONPATH: the editable install maps `ragtune` to the main checkout; a clone must run its own copy.
    return dict(
        os.environ,
        PATH=f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(clone),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )


def run(args: list[str], cwd: Path, log: Path | None = None, check: bool = True) -> tuple[float, str]:
    """Run a command; return (wall seconds, stdout+stderr), appended to `log` when given."""
    started = time.perf_counter()
    done = subprocess.run(
        args, cwd=cwd, env=environment(cwd), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seconds = time.perf_counter() - started
    if log is not None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(args)}   # in {cwd}, {seconds:.1f} s, exit {done.returncode}\n{done.stdout}\n")
    if check and done.returncode != 0:
        sys.exit(f"`{' '.join(args)}` failed in {cwd} (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return seconds, done.stdout


def fresh_clone(commit: str, target: Path, remote: Path) -> Path:
    run(["git", "clone", "-q", str(ROOT), str(target)], target.parent)
    run(["git", "checkout", "-q", "-B", "main", commit], target)
    # a private default remote in the untracked config.local: the project's own remote is never touched
    run(["dvc", "remote", "add", "--local", "-d", "bench", str(remote)], target)
    return target


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def lock_outs(text: str) -> dict[str, str]:
    """`stage:path` -> md5 for every out in a dvc.lock."""
    stages = (yaml.safe_load(text) or {}).get("stages") or {}
    return {
        f"{stage}:{out['path']}": str(out.get("md5"))
        for stage, entry in sorted(stages.items())
        for out in entry.get("outs") or []
    }


def dir_listing(clone: Path, md5: str) -> dict[str, str]:
    manifest = clone / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    try:
        return {item["relpath"]: item["md5"] for item in json.loads(manifest.read_text())}
    except (OSError, ValueError):
        return {}


def differences(a: dict[str, str], b: dict[str, str], clone_a: Path, clone_b: Path) -> list[str]:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        lines.append(f"  {key}: {a.get(key)} vs {b.get(key)}")
        if str(a.get(key)).endswith(".dir") and str(b.get(key)).endswith(".dir"):
            inner_a, inner_b = dir_listing(clone_a, a[key]), dir_listing(clone_b, b[key])
            for rel in sorted(set(inner_a) | set(inner_b)):
                if inner_a.get(rel) != inner_b.get(rel):
                    lines.append(f"      {rel}: {inner_a.get(rel)} vs {inner_b.get(rel)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--score", type=float, default=0.5, help="the leaderboard score to release with")
    parser.add_argument("--keep", action="store_true", help="keep the clones and the remote")
    parser.add_argument("--workdir", type=Path, default=None, help="where to make the clones (default: a temp dir)")
    args = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, text=True, capture_output=True, check=True
    ).stdout.strip()
    committed_lock = subprocess.run(
        ["git", "show", f"{commit}:dvc.lock"], cwd=ROOT, text=True, capture_output=True
    ).stdout
    work = Path(tempfile.mkdtemp(prefix="ragtune-reproduce-", dir=args.workdir))
    remote, log = work / "dvc-remote", work / "log.txt"
    load_before = os.getloadavg()
    print(
        f"commit {commit[:12]}; work dir {work}; load average {load_before[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )

    clones, repro_seconds, ran = {}, {}, {}
    for name in ("a", "b"):
        clone = fresh_clone(commit, work / name, remote)
        print(f"clone {name}: dvc repro ...", flush=True)
        seconds, output = run(["dvc", "repro"], clone, log)
        clones[name], repro_seconds[name], ran[name] = clone, seconds, RAN.findall(output)
        print(f"clone {name}: {seconds:.1f} s, ran {', '.join(ran[name]) or 'nothing'}", flush=True)

    a, b = clones["a"], clones["b"]
    sub_a, sub_b = sha256(a / "submissions" / "submission.csv"), sha256(b / "submissions" / "submission.csv")
    outs_a, outs_b = lock_outs((a / "dvc.lock").read_text()), lock_outs((b / "dvc.lock").read_text())
    outs_committed = lock_outs(committed_lock)
    between_clones = differences(outs_a, outs_b, a, b)
    against_committed = [line for line in differences(outs_committed, outs_a, a, a) if not line.startswith("      ")]
    _, dirty_a = run(["git", "status", "--porcelain"], a)

    # release from clone A (committing its outputs first if the run changed any tracked file)
    if dirty_a.strip():
        run(["git", "commit", "-qam", "benchmark: this run's dvc.lock and metrics"], a, log)
    _, released = run(["ragtune", "release", "--score", str(args.score), "--note", "benchmarks/reproduce.py"], a, log)
    tag = re.search(r"created tag (\S+?);?\s", released)
    if tag is None:
        sys.exit(f"no tag in the release output:\n{released}")
    tag = tag.group(1)
    pushed = sum(1 for p in (remote / "files" / "md5").rglob("*") if p.is_file())

    # a fresh clone with an empty cache: everything must come from the remote
    c = work / "c"
    run(["git", "clone", "-q", str(a), str(c)], work)
    run(["dvc", "remote", "add", "--local", "-d", "bench", str(remote)], c)
    started = time.perf_counter()
    done = subprocess.run(["ragtune", "reproduce", tag], cwd=c, env=environment(c), text=True, capture_output=True)
    reproduce_seconds = time.perf_counter() - started
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ ragtune reproduce {tag}\n{done.stderr}\n{done.stdout}\n")
    stages_line = next((line.strip() for line in done.stdout.splitlines() if "stages ran:" in line), "stages ran: ?")
    time_line = next((line.strip() for line in done.stdout.splitlines() if line.strip().startswith("time:")), "")
    load_after = os.getloadavg()

    print("\n=== ragtune reproducibility, data=sample (embedded default) ===")
    print(f"commit                         : {commit}")
    print(f"dvc repro from clean, clone A  : {repro_seconds['a']:.1f} s")
    print(f"dvc repro from clean, clone B  : {repro_seconds['b']:.1f} s")
    print(f"submission sha256, clone A     : {sub_a}")
    print(f"submission sha256, clone B     : {sub_b}")
    print(f"identical submissions          : {'yes' if sub_a and sub_a == sub_b else 'NO'}")
    print(f"identical DVC outputs (A vs B) : {'yes' if not between_clones else 'NO'} ({len(outs_a)} outs compared)")
    for line in between_clones:
        print(line)
    print(f"clone A's dvc.lock outs = committed dvc.lock: {'yes' if not against_committed else 'NO'}")
    for line in against_committed:
        print(line)
    print(f"release                        : {tag} ({pushed} objects pushed to the temporary remote)")
    print(
        f"ragtune reproduce, fresh clone : exit {done.returncode}, "
        f"{'MATCH' if done.returncode == 0 else 'MISMATCH' if done.returncode == 1 else 'FAILED'}, "
        f"{reproduce_seconds:.1f} s wall; {stages_line}"
    )
    if time_line:
        print(f"  reproduce's own breakdown    : {time_line}")
    if done.returncode == 2:
        print(done.stderr[-2000:])
    print(
        f"load average                   : {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} cores, shared)"
    )
    print(f"commands and their output      : {log}" + ("" if args.keep else " (removed; --keep to keep)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
