"""Lexical retrieval backends behind one interface (see `base.SparseRetriever`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.io import read_json
from ragtune.retrieval.sparse.base import Hits, SparseRetriever, ordered

if TYPE_CHECKING:
    from ragtune.config.schema import MiningBM25, Sparse

__all__ = ["Hits", "SparseRetriever", "ordered", "load_retriever", "embedded_bm25", "sparse_retriever"]
ANALYZER_WORKERS = min(os.cpu_count() or 1, 8)  # Kiwi threads; results do not depend on it


def embedded_bm25(settings: Sparse | MiningBM25, language: str = "ko", analyzer_workers: int = ANALYZER_WORKERS):
    """bm25s with the corpus language's analyzer (Kiwi with the group's analysis for Korean; ragtune.text.english
    for English and mixed text) and the group's k1/b (`negatives.bm25`, or a bm25s sparse group), unindexed."""
    from ragtune.retrieval.sparse.bm25 import BM25Retriever
    from ragtune.text.english import analyzer_for_language

    korean = settings.analyzer.model_dump(exclude_unset=True)
    return BM25Retriever(analyzer_for_language(language, korean, analyzer_workers), k1=settings.k1, b=settings.b)


def sparse_retriever(
    settings: Sparse,
    documents: list[dict] | None = None,
    language: str = "ko",
    analyzer_workers: int = ANALYZER_WORKERS,
):
    """The configured lexical backend, not yet indexed. Elasticsearch index names derive from the documents and
    settings, so experiments queued side by side never overwrite each other's index; the server is probed here,
    before any work (ES_URL unset or dead: one line)."""
    if settings.backend == "bm25s":
        return embedded_bm25(settings, language, analyzer_workers)
    from ragtune.retrieval.sparse import elastic
    from ragtune.retrieval.sparse import elastic_settings as es

    analysis = es.default_analysis(settings.decompound_mode, settings.stoptags or es.DEFAULT_STOPTAGS)
    name = settings.index_prefix
    if documents is not None:
        fingerprint = es.corpus_fingerprint([d["docid"] for d in documents], [d["content"] for d in documents])
        name = es.index_name_for(settings.index_prefix, fingerprint, settings.k1, settings.b, analysis)
    server = elastic.ElasticsearchRetriever(
        index_name=name, api_key_env=settings.api_key_env, k1=settings.k1, b=settings.b, analyzer=analysis
    )
    server.check_reachable()
    return server


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
