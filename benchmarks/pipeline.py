"""Whole-pipeline figures on the competition data, in a fresh clone of the committed code.

Prints: full `dvc repro` from clean, a no-op `dvc repro`, `dvc exp run -S alpha=…`, the peak
memory of any stage, and the validation metrics per retriever (dev questions).
Usage: python benchmarks/pipeline.py [--data DIR_WITH_COMPETITION_FILES] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "competition"


STAGE = re.compile(r"Running stage '([^']+)'")


def timed(command: list[str], cwd: Path, stages: dict[str, float] | None = None) -> float:
    """Wall time of `command`; with `stages`, also each stage's (from one "Running stage" line to the next)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    current, since = None, started
    for line in process.stdout:
        sys.stdout.write(line)
        match = STAGE.search(line)
        if match and stages is not None:
            now = time.perf_counter()
            if current:
                stages[current] = now - since
            current, since = match.group(1), now
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    if current and stages is not None:
        stages[current] = time.perf_counter() - since
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    if not (args.data / "documents.jsonl").exists():
        sys.exit(f"no competition data in {args.data}")
    work = Path(tempfile.mkdtemp(prefix="ragtune-bench-"))
    repo = work / "ragtune"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    raw = repo / "data" / "raw" / "competition"
    raw.mkdir(parents=True)
    for name in ("documents.jsonl", "eval.jsonl", "dev_queries.jsonl"):
        shutil.copy(args.data / name, raw / name)
    # The default data group, not only params.yaml: `dvc exp run -S` recomposes params from conf/.
    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("  - data: sample", "  - data: competition  #", 1))
    subprocess.run([sys.executable, "-m", "ragtune.cli", "params"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "competition"], cwd=repo, check=True)

    full_stages: dict[str, float] = {}
    alpha_stages: dict[str, float] = {}
    full = timed(["dvc", "repro"], repo, full_stages)
    default_scores = json.loads((repo / "metrics" / "retrieval.json").read_text())
    noop = timed(["dvc", "repro"], repo)
    alpha = timed(["dvc", "exp", "run", "-S", "alpha=0.6"], repo, alpha_stages)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    scores = json.loads((repo / "metrics" / "retrieval.json").read_text())
    print("\n=== ragtune pipeline on data=competition ===")
    print(f"full dvc repro from clean : {full:7.1f} s")
    print(f"no-op dvc repro           : {noop:7.1f} s")
    print(f"dvc exp run -S alpha=0.6  : {alpha:7.1f} s")
    print(f"peak memory of a stage    : {peak:7.0f} MiB")
    for label, stages in (("full repro", full_stages), ("alpha experiment", alpha_stages)):
        print(f"stage wall times, {label}: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in stages.items()))
    for label, table in (("default parameters", default_scores), ("alpha=0.6 experiment", scores)):
        print(f"validation metrics, {label} (dev questions):")
        for name, values in table.items():
            print(f"  {name:<11}" + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
