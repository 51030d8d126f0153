"""A small built workspace for `ragtune search` and `ragtune export` tests: the first documents of the shipped
Korean sample (two of them with a folder collection's title and headings), the shipped params.yaml with a
shallow candidate depth, the lexical indexes, and a tiny E5 embedder (fine-tuned = base) with its FAISS index."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ragtune.io import read_jsonl, write_json, write_jsonl

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "ragtune/resources/sample/documents.jsonl"
N_DOCUMENTS = 30
SHAPE = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
TITLED = {0: ("Physics notes", ["Mechanics", "Newton's laws"]), 1: ("Physics notes", [])}


def documents() -> list[dict]:
    rows = read_jsonl(SAMPLE)[:N_DOCUMENTS]
    for position, (title, headings) in TITLED.items():
        rows[position] = {**rows[position], "src": "notes/physics.md", "title": title, "headings": headings}
    return rows


def build_workspace(root: Path) -> Path:
    """Write the workspace under `root` (seconds: a tiny model, 30 passages)."""
    from ragtune.config.paths import Workspace
    from ragtune.config.schema import load
    from ragtune.models.encoders import load_encoder
    from ragtune.models.tiny import build_tiny_e5
    from ragtune.retrieval import dense
    from ragtune.retrieval.sparse import sparse_retriever
    from ragtune.retrieval.sparse.bm25 import BM25Retriever
    from ragtune.text.analysis import CharNgramAnalyzer

    ws = Workspace(root)
    values = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    values["retrieval"]["candidates"] = 20
    (root / "params.yaml").write_text(yaml.safe_dump(values, allow_unicode=True), encoding="utf-8")
    p = load(values)
    rows = documents()
    docids, texts = [d["docid"] for d in rows], [d["content"] for d in rows]
    ws.prepared.mkdir(parents=True)
    write_jsonl(ws.documents, rows)
    write_json(ws.collection, {"language": "ko", "setting": "ko", "detected": "ko"})  # as prepare writes them

    sparse = sparse_retriever(p.sparse, rows, analyzer_workers=1)
    morphemes = sparse.analyzer.morphemes(texts)
    write_jsonl(ws.morphemes, ({"docid": d, "morphemes": m} for d, m in zip(docids, morphemes)))
    sparse.index_tokens(docids, [sparse.analyzer.select(m) for m in morphemes])
    sparse.save(ws.indexes / "sparse")
    chars = BM25Retriever(CharNgramAnalyzer(p.index.char_ngram), k1=p.sparse.k1, b=p.sparse.b)
    chars.index(docids, texts)
    chars.save(ws.indexes / "sparse_char")

    build_tiny_e5(texts, ws.embedder, vocab_size=1500, seed=0, **SHAPE)
    shutil.copytree(ws.embedder, ws.base_model)
    encoder = load_encoder(ws.embedder, device="cpu", passage_max_length=p.model.passage_max_len)
    vectors = encoder.encode(texts, kind="passage").dense
    for name in ("dense", "dense_base"):  # one model stands for both: the base is never loaded by search
        dense.save_faiss(dense.build_faiss(vectors), ws.indexes / name / "faiss.index")
        write_json(ws.indexes / name / "docids.json", docids)
    return root
