"""A tiny two-stage DVC project built in a temporary directory, for the release and reproduce tests.

Its fixtures are in tests/release/conftest.py (module-scoped: each module builds its own template).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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


def release_tag(repo: Path) -> str:
    return sh(repo, "git", "tag", "--list", "lb/*", "--sort=creatordate").split()[-1]
