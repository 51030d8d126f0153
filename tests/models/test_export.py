"""`ragtune export`: the exported sentence-transformers embedder encodes as ragtune's encoder does, and its FAISS
index answers as the workspace's dense searcher."""

from __future__ import annotations

import json

import numpy as np
import pytest
from search_support import SHAPE, build_workspace, documents

from ragtune.io import read_json
from ragtune.models.encoders import load_encoder
from ragtune.models.export import ExportError, export, save_sentence_transformer
from ragtune.models.tiny import build_tiny_embedder
from ragtune.retrieval import dense
from ragtune.retrieval.search import WorkspaceSearch

QUERIES = ["뉴턴의 운동 법칙에서 관성이 뭐야?", "세포는 에너지를 어떻게 만들어?", "빛의 속도는 얼마나 빨라?", "물"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("export-ws"))


@pytest.fixture(scope="module")
def exported(workspace, tmp_path_factory):
    return export(workspace, tmp_path_factory.mktemp("out") / "retriever", log=lambda _: None)


def sentence_transformer(directory):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(directory), device="cpu")


def test_the_directory_holds_what_a_rag_application_needs(workspace, exported):
    assert sorted(p.name for p in exported.iterdir()) == [
        "README.md", "docids.json", "embedder", "faiss.index", "passages.jsonl",
    ]  # fmt: skip
    rows = [json.loads(line) for line in (exported / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    docids = read_json(exported / "docids.json")
    assert [r["docid"] for r in rows] == docids == read_json(workspace / "indexes/dense/docids.json")
    by_id = {d["docid"]: d for d in documents()}
    for row in rows:
        assert set(row) == {"docid", "source", "title", "text"}
        assert (row["source"], row["title"], row["text"]) == (
            by_id[row["docid"]]["src"], by_id[row["docid"]].get("title", ""), by_id[row["docid"]]["content"],
        )  # fmt: skip
    config = read_json(exported / "embedder/config_sentence_transformers.json")
    assert config["prompts"]["query"] == "query: " and config["prompts"]["passage"] == "passage: "
    assert config["default_prompt_name"] is None
    assert read_json(exported / "embedder/1_Pooling/config.json")["pooling_mode_mean_tokens"] is True
    readme = (exported / "README.md").read_text(encoding="utf-8")
    assert 'prompt_name="query"' in readme and "faiss.read_index" in readme and str(exported) in readme


@pytest.mark.slow  # encodes with two loaded models
def test_the_exported_embedder_encodes_as_ragtune(workspace, exported):
    model = sentence_transformer(exported / "embedder")
    ours = load_encoder(workspace / "models/embedder", device="cpu", query_max_length=64, passage_max_length=256)
    texts = [d["content"] for d in documents()]
    for kind, inputs in (("query", QUERIES), ("passage", texts)):
        theirs = model.encode(inputs, prompt_name=kind, normalize_embeddings=True)
        assert np.abs(theirs - ours.encode(inputs, kind=kind).dense).max() < 1e-5, kind
    # and the index's rows are those passage vectors
    index = dense.load_faiss(exported / "faiss.index")
    passages = model.encode(texts, prompt_name="passage", normalize_embeddings=True)
    assert np.abs(index.reconstruct_n(0, index.ntotal) - passages).max() < 1e-5


def test_the_exported_index_answers_as_the_dense_searcher(workspace, exported):
    model = sentence_transformer(exported / "embedder")
    index = dense.load_faiss(exported / "faiss.index")
    docids = read_json(exported / "docids.json")
    search = WorkspaceSearch(workspace)
    _, rows = index.search(model.encode(QUERIES, prompt_name="query", normalize_embeddings=True), 5)
    assert [[docids[i] for i in row] for row in rows] == [search.dense_only(q, 5) for q in QUERIES]


def test_a_non_empty_directory_is_replaced_only_with_force(workspace, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(workspace, target, log=lambda _: None)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    export(workspace, target, force=True, log=lambda _: None)
    assert not (target / "keep.txt").exists() and (target / "faiss.index").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staged directory left behind


@pytest.mark.slow  # encodes with two loaded models
def test_bge_m3_exports_with_cls_pooling_and_no_prefixes(tmp_path):
    texts = [d["content"] for d in documents()]
    build_tiny_embedder(texts, tmp_path / "m3", vocab_size=1500, seed=0, **SHAPE)
    save_sentence_transformer(tmp_path / "m3", tmp_path / "st", max_length=128)
    assert read_json(tmp_path / "st/1_Pooling/config.json")["pooling_mode_cls_token"] is True
    model = sentence_transformer(tmp_path / "st")
    ours = load_encoder(tmp_path / "m3", device="cpu", query_max_length=128, passage_max_length=128)
    theirs = model.encode(texts[:8], prompt_name="query", normalize_embeddings=True)
    assert np.abs(theirs - ours.encode(texts[:8], kind="query", lexical=False).dense).max() < 1e-5
