"""Lexical retrieval backends behind one interface (see `base.SparseRetriever`)."""

from __future__ import annotations

from pathlib import Path

from ragtune.io import read_json
from ragtune.retrieval.sparse.base import Hits, SparseRetriever, ordered

__all__ = ["Hits", "SparseRetriever", "ordered", "load_retriever"]


def load_retriever(directory: Path, num_workers: int = 0, search_backend: str = "numpy") -> SparseRetriever:
    """Open a saved index with the backend recorded in its manifest (`search_backend`: bm25s's numpy or numba)."""
    backend = read_json(Path(directory) / "manifest.json")["backend"]
    if backend == "bm25s":
        from ragtune.retrieval.sparse.bm25 import BM25Retriever

        return BM25Retriever.load(directory, num_workers=num_workers, backend=search_backend)
    if backend == "elasticsearch":
        from ragtune.retrieval.sparse.elastic import ElasticsearchRetriever

        return ElasticsearchRetriever.load(directory)
    raise ValueError(f"{directory}/manifest.json: unknown sparse backend {backend!r}")
