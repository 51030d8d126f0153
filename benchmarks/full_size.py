"""The real-size path, proven offline: `model=bge-m3 reranker=bge-v2-m3` through every stage, on CPU.

    nice -n 19 python benchmarks/full_size.py                 # needs >= 14 GB of free memory, ~77 GB disk is plenty
    python benchmarks/full_size.py --models DIR --keep        # reuse models built earlier (DIR/bge-m3-random, …)

Builds random models of BGE-M3's and bge-reranker-v2-m3's exact shapes (XLM-R large: 24 layers, hidden 1024,
16 heads, FF 4096, 8,194 positions, vocabulary 250,002, with the real XLM-R SentencePiece tokenizer; BGE-M3's
ColBERT and sparse heads), the builder benchmarks/gpu.py uses. Then, in a fresh clone of the committed code on
the shipped sample, composes `model=bge-m3 reranker=bge-v2-m3` with the model groups pointed at those local
directories and a handful of training steps (small batches: CPU), and runs each stage with `dvc repro -s`,
printing its wall time and peak memory (the largest process of the stage). Random weights: the metrics are
meaningless; what is proven is that every stage runs at the real shapes (568M-parameter embedder,
568M-parameter cross-encoder) and how long and how much memory each takes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
STAGES = ("prepare", "queries", "base", "negatives", "train", "index", "retrieve", "evaluate", "submit")

# CPU-sized settings; the shapes stay BGE-M3's. M3's unified fine-tuning (dense + sparse + ColBERT,
# self-distillation) as conf/model/bge-m3.yaml has it, on 1 question × (1 positive + 1 negative) per step.
OVERRIDES = (
    "model.revision=null",
    "reranker.revision=null",  # local models: no hub commit to pin
    "train.max_steps=3",
    "train.batch_size=1",
    "train.gradient_accumulation_steps=1",
    "train.train_group_size=2",
    "train.logging_steps=1",
    "train.select_corpus=40",
    "retrieval.rerank_top=3",
    "reranker.validation_limit=10",
    "reranker.batch_size=8",
)


def free_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def environment() -> dict[str, str]:
    return dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DVC_NO_ANALYTICS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@b",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@b",
    )


# Runs one command and reports the peak RSS of its largest descendant (the stage's python, not dvc).
MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(f'peak_rss_mib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}'); "
    "sys.exit(code)"
)


def run_stage(repo: Path, stage: str, log: Path) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit status) of `dvc repro -s <stage>`; its output goes to `log` and stdout."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", MEASURE, "dvc", "repro", "-s", stage],
            cwd=repo,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak = float("nan")
        for line in process.stdout:
            out.write(line)
            sys.stdout.write(line)
            match = re.match(r"peak_rss_mib=(\d+)", line)
            if match:
                peak = float(match.group(1))
        code = process.wait()
    return time.perf_counter() - started, peak, code


def clone(work: Path, embedder: Path, reranker: Path, extra: list[str]) -> Path:
    """A fresh clone of the committed code whose params.yaml is bge-m3 + bge-v2-m3 at the local models."""
    repo = work / "ragtune"
    env = environment()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, env=env)
    overrides = [
        "model=bge-m3",
        "reranker=bge-v2-m3",
        f"model.embedder={embedder}",
        f"reranker.path={reranker}",
        *OVERRIDES,
        *extra,
    ]
    subprocess.run([sys.executable, "-m", "ragtune.cli", "params", *overrides], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qam", "full-size"], cwd=repo, check=True, env=env)
    return repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="directory with (or for) bge-m3-random/ and bge-reranker-v2-m3-random/ (default: temp)",
    )
    parser.add_argument("--min-free-gb", type=float, default=14.0, help="refuse to start with less memory available")
    parser.add_argument("--stages", nargs="*", default=list(STAGES), help="stop after the last one listed")
    parser.add_argument("--keep", action="store_true", help="keep the clone (and built models) for inspection")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. train.max_steps=1")
    args = parser.parse_args(argv)
    if free_gb() < args.min_free_gb:
        print(f"only {free_gb():.1f} GB of memory available, {args.min_free_gb:g} needed: not starting")
        return 2

    from gpu import FULL_SHAPE, build_models, existing_models

    work = Path(tempfile.mkdtemp(prefix="ragtune-full-size-"))
    models = args.models or work / "models"
    models.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    built = existing_models(models)
    embedder, reranker = built or build_models(models, FULL_SHAPE, seed=0)
    print(f"models {'reused' if built else 'built'} in {time.perf_counter() - started:.0f} s: {embedder}, {reranker}")

    repo = clone(work, embedder, reranker, args.overrides)
    figures, last, failed = {}, max(STAGES.index(s) for s in args.stages), None
    for stage in STAGES[: last + 1]:
        seconds, peak, code = run_stage(repo, stage, work / f"{stage}.log")
        figures[stage] = (seconds, peak)
        print(f"=== {stage}: {seconds:.0f} s, peak {peak:.0f} MiB, exit {code}", flush=True)
        if code != 0:
            print(f"stage {stage} failed: see {work / f'{stage}.log'}")
            failed, args.keep = stage, True
            break

    print("\n=== model=bge-m3 reranker=bge-v2-m3 at full size, CPU, shipped sample ===")
    print(f"overrides: {' '.join((*OVERRIDES, *args.overrides))}")
    for stage, (seconds, peak) in figures.items():
        print(f"  {stage:<10} {seconds:7.0f} s  peak {peak:7.0f} MiB")
    metrics = repo / "metrics" / "train.json"
    if metrics.is_file():
        print(f"train: {metrics.read_text().strip()}")
    if args.keep:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
