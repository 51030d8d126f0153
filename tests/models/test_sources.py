"""Base models and pointers: what fine-tuning starts from, and model outputs that are copies or pointers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_support import SENTENCES, SHAPE, build_embedder, digests

from ragtune.models.encoders import read_spec
from ragtune.models.hub import write_pointer
from ragtune.models.sources import base_embedder, base_reranker, copy_model


def test_pointers_and_base_models(tmp_path):
    embedder = build_embedder(tmp_path / "embedder")
    write_pointer(tmp_path / "hub", "BAAI/bge-m3")
    assert json.loads((tmp_path / "hub" / "pointer.json").read_text()) == {"name_or_path": "BAAI/bge-m3"}
    assert base_embedder("bge-m3", "BAAI/bge-m3", None, [], tmp_path / "base", seed=0) == "BAAI/bge-m3"
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["pointer.json", "ragtune_encoder.json"]
    assert read_spec(tmp_path / "base").family == "m3"

    built = base_embedder(
        "tiny", None, dict(vocab_size=300, max_position=130, **SHAPE), SENTENCES, tmp_path / "tiny", seed=0
    )
    assert digests(Path(built)) == digests(embedder)  # the same build any stage makes

    assert base_reranker("none", None, None, None, tmp_path / "none", seed=0) is None
    assert json.loads((tmp_path / "none" / "pointer.json").read_text()) == {"name_or_path": None}
    assert (
        base_reranker("bge-v2-m3", "BAAI/bge-reranker-v2-m3", None, None, tmp_path / "rr", seed=0)
        == "BAAI/bge-reranker-v2-m3"
    )
    tiny_reranker = base_reranker("tiny", None, dict(max_position=130, **SHAPE), embedder, tmp_path / "trr", seed=0)
    assert (Path(tiny_reranker) / "model.safetensors").exists()
    with pytest.raises(ValueError, match="tokenizer"):
        base_reranker("tiny", None, SHAPE, None, tmp_path / "x", seed=0)

    copy_model(tiny_reranker, tmp_path / "copy")
    assert digests(tmp_path / "copy") == digests(Path(tiny_reranker))
    copy_model("BAAI/bge-reranker-v2-m3", tmp_path / "copy")  # replaces the directory, leaves no model files
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["pointer.json"]
