"""The lexical retrievers stages build (not in common.py: prepare and the stages without BM25 would depend on them)."""

from __future__ import annotations

from common import WORKERS

from ragtune.config.schema import ParamsError
from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.text.analysis import KoreanAnalyzer


def embedded_bm25(config: dict, analyzer_workers: int = WORKERS):
    """bm25s over Kiwi with `config`'s analysis and k1/b (`negatives.bm25`, or a bm25s sparse group), unindexed."""
    return BM25Retriever(
        KoreanAnalyzer.from_config(config["analyzer"], num_workers=analyzer_workers), k1=config["k1"], b=config["b"]
    )


def sparse_retriever(config: dict, documents: list[dict] | None = None, analyzer_workers: int = WORKERS):
    """The configured lexical backend, not yet indexed. Elasticsearch index names derive from the
    documents and settings, so experiments queued side by side never overwrite each other's index."""
    if config["backend"] == "bm25s":
        return embedded_bm25(config, analyzer_workers)
    if config["backend"] == "elasticsearch":
        from ragtune.retrieval.sparse import elastic
        from ragtune.retrieval.sparse import elastic_settings as settings

        analysis = settings.default_analysis(config["decompound_mode"], config["stoptags"] or settings.DEFAULT_STOPTAGS)
        name = config["index_prefix"]
        if documents is not None:
            fingerprint = settings.corpus_fingerprint(
                [d["docid"] for d in documents], [d["content"] for d in documents]
            )
            name = settings.index_name_for(config["index_prefix"], fingerprint, config["k1"], config["b"], analysis)
        server = elastic.ElasticsearchRetriever(
            index_name=name, api_key_env=config["api_key_env"], k1=config["k1"], b=config["b"], analyzer=analysis
        )
        server.check_reachable()  # ES_URL unset or dead: one line, before the stage does any work
        return server
    raise ParamsError("params.yaml", "sparse.backend", f"must be bm25s or elasticsearch, got {config['backend']!r}")
