"""Whole-pipeline figures on the competition data, in a fresh clone of the committed code.

Prints: full `dvc repro` from clean (per-stage times), a no-op `dvc repro`, the peak memory of a stage,
the validation metrics per source and retriever, and an alpha sweep (`dvc exp run -S alpha=…`, timed) per source;
with `--quickstart`, also the README's first command (`make repro`: a fresh clone, its own .venv, the sample).
Last, each timing against the figure issue #25 started from and its target.
Usage: python benchmarks/pipeline.py [--data DIR_WITH_COMPETITION_FILES] [--alphas 0.2 0.6] [--keep] [--quickstart]
       [--set index.precision=bf16 ...]   (a key of conf/config.yaml, set in the clone's conf/ for every run)
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


ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# (what, the figure issue #25 started from, its target), seconds, on 2 cores
TARGETS = {
    "alpha": ("a `dvc exp run -S alpha=…` rerun", "28–41 s", 10),
    "full": ("the pipeline from clean", "9.5–16 min", 8 * 60),
    "quickstart": ("the Quickstart's first command (`make repro`)", "5 min 18 s", 4 * 60),
}
SHOWN = ("dense_base", "dense", "lexical", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument(
        "--alphas",
        type=float,
        nargs="*",
        default=ALPHAS,
        help="the sweep: one `dvc exp run -S alpha=…` each (the default alpha is the full run's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    parser.add_argument("--quickstart", action="store_true", help="also time `make repro` in a fresh clone")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a conf/config.yaml key for the whole measurement (full run and sweep), e.g. index.precision=bf16",
    )
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
    for assignment in args.set:
        set_in_config(config, assignment)
    subprocess.run([sys.executable, "-m", "ragtune.cli", "params"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "competition"], cwd=repo, check=True
    )
    default_alpha = float(re.search(r"^alpha: ([0-9.]+)", (repo / "params.yaml").read_text(), re.M).group(1))

    full_stages: dict[str, float] = {}
    full = timed(["dvc", "repro"], repo, full_stages)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    default_scores = json.loads((repo / "metrics" / "retrieval.json").read_text())
    train = json.loads((repo / "metrics" / "train.json").read_text())
    noop = timed(["dvc", "repro"], repo)
    sweep = {default_alpha: (None, {}, default_scores)}
    for alpha in args.alphas:
        if alpha != default_alpha:
            stages: dict[str, float] = {}
            seconds = timed(["dvc", "exp", "run", "-S", f"alpha={alpha}"], repo, stages)
            sweep[alpha] = (seconds, stages, json.loads((repo / "metrics" / "retrieval.json").read_text()))

    print("\n=== ragtune pipeline on data=competition" + "".join(f" {a}" for a in args.set) + " ===")
    print(f"full dvc repro from clean : {full:7.1f} s")
    print(f"no-op dvc repro           : {noop:7.1f} s")
    print(f"peak memory of a stage    : {peak:7.0f} MiB (full repro)")
    print("stage wall times, full repro: " + ", ".join(f"{name} {s:.0f} s" for name, s in full_stages.items()))
    print(f"train: {json.dumps(train, sort_keys=True)}")
    for source, table in default_scores.items():
        print(f"validation source {source}, alpha {default_alpha}:")
        for name in (*SHOWN, *(n for n in table if n not in SHOWN and n != "kinds")):  # per kind: below
            if name in table:
                print(
                    f"  {name:<11}"
                    + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in table[name].items())
                )
        for kind, section in table.get("kinds", {}).items():
            figures = "  ".join(f"{k}={v:.4f}" for k, v in section["hybrid"].items())
            print(f"  hybrid on its {section['questions']} {kind} questions: {figures}")
    print("alpha sweep (`dvc exp run -S alpha=…`), hybrid map@3 / mrr@10 per source:")
    sources = list(default_scores)
    print("  alpha  seconds  " + "  ".join(f"{s:>24}" for s in sources))
    for alpha in sorted(sweep):
        seconds, stages, scores = sweep[alpha]
        cells = "  ".join(
            f"{scores[s]['hybrid']['map@3']:.4f} / {scores[s]['hybrid']['mrr@10']:.4f}".rjust(24) for s in sources
        )
        timing = "full run" if seconds is None else f"{seconds:5.1f} s"
        print(
            f"  {alpha:5.2f}  {timing:>8}  {cells}"
            + (f"   ({', '.join(f'{n} {t:.0f} s' for n, t in stages.items())})" if stages else "")
        )
    for source in sources:
        best = max(sweep, key=lambda a: (sweep[a][2][source]["hybrid"]["map@3"], -abs(a - default_alpha)))
        print(f"  best alpha on {source}: {best} (map@3 {sweep[best][2][source]['hybrid']['map@3']:.4f})")
    reruns = [seconds for seconds, _, _ in sweep.values() if seconds is not None]  # none with `--alphas` alone
    measured = {"full": full, **({"alpha": min(reruns)} if reruns else {})}
    if args.quickstart:
        measured["quickstart"] = quickstart(work / "quickstart")
    print("against issue #25's starting figures (best alpha rerun of the sweep):")
    for key, seconds in measured.items():
        what, before, target = TARGETS[key]
        verdict = "met" if seconds <= target else "not met"
        print(f"  {what}: {seconds:.1f} s (was {before}; target ≤ {target} s: {verdict})")
    if args.keep:
        print(f"workspace kept: {repo}")
    else:
        shutil.rmtree(work)


def set_in_config(config: Path, assignment: str) -> None:
    """`KEY=VALUE` (a dotted key of conf/config.yaml, a YAML value) written into the clone's conf/config.yaml."""
    from ruamel.yaml import YAML

    dotted, _, value = assignment.partition("=")
    yaml = YAML()
    data = yaml.load(config)
    *groups, key = dotted.split(".")
    node = data
    for group in groups:
        node = node.get(group) if isinstance(node, dict) else None
    if not isinstance(node, dict) or key not in node:
        sys.exit(f"--set {assignment}: conf/config.yaml has no key {dotted}")
    node[key] = YAML(typ="safe").load(value)
    yaml.dump(data, config)


def quickstart(folder: Path) -> float:
    """`make repro` in a fresh clone of the committed code: its own .venv (pip's cache as this machine has it)."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    started = time.perf_counter()
    subprocess.run(["make", "repro", "PIP_FLAGS=-q"], cwd=folder, env=env, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
