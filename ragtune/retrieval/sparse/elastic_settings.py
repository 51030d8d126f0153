"""What an Elasticsearch index of ragtune is made of: the nori analysis chain, BM25 similarity,
mappings and query, and the names and fingerprints derived from them.

Plain data, no client: `ragtune.retrieval.sparse.elastic` sends these to the server, the stages build
them from parameters, and the tests read them without one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

ANALYZER_NAME = "ragtune_korean"
SIMILARITY_NAME = "ragtune_bm25"

# Korean POS tags (mecab-ko-dic, as nori names them) that carry no topic:
# endings, particles, interjections, conjunctive adverbs, punctuation and
# symbols, affixes, copulas, and what the dictionary cannot analyse.
DEFAULT_STOPTAGS: tuple[str, ...] = (
    "E", "IC", "J", "MAJ", "SC", "SE", "SF", "SP", "SSC", "SSO",
    "XPN", "XSA", "XSN", "XSV", "VCP", "VCN", "UNA", "NA", "VSV",
)  # fmt: skip


def default_analysis(decompound_mode: str = "mixed", stoptags: Sequence[str] = DEFAULT_STOPTAGS) -> dict[str, Any]:
    """The `index.analysis` settings: nori tokenizer, POS stop-tags, lowercase (for Latin terms)."""
    return {
        "tokenizer": {
            "ragtune_nori": {"type": "nori_tokenizer", "decompound_mode": decompound_mode, "discard_punctuation": True}
        },
        "filter": {"ragtune_pos_stop": {"type": "nori_part_of_speech", "stoptags": list(stoptags)}},
        "analyzer": {
            ANALYZER_NAME: {"type": "custom", "tokenizer": "ragtune_nori", "filter": ["ragtune_pos_stop", "lowercase"]}
        },
    }


def check_scoring(k1: float, b: float, analysis: dict[str, Any]) -> None:
    """ValueError unless BM25's k1/b are in range and `analysis` defines the content field's analyzer."""
    if k1 < 0 or not 0 <= b <= 1:
        raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
    if ANALYZER_NAME not in analysis.get("analyzer", {}):
        raise ValueError(f"analyzer settings must define analyzer '{ANALYZER_NAME}' (used by the content field)")


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """sha256 of the settings that decide the scores (k1, b, analysis), as recorded on the server index."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def index_body(k1: float, b: float, analysis: dict[str, Any]) -> dict[str, Any]:
    """Settings and mappings sent when the index is created."""
    return {
        "settings": {
            # One shard: BM25 statistics are per shard, so more would make scores depend on routing.
            "index": {"number_of_shards": 1, "number_of_replicas": 0},
            "similarity": {SIMILARITY_NAME: {"type": "BM25", "k1": k1, "b": b}},
            "analysis": analysis,
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "docid": {"type": "keyword"},
                "content": {"type": "text", "analyzer": ANALYZER_NAME, "similarity": SIMILARITY_NAME},
            },
        },
    }


def search_body(query: str, k: int) -> dict[str, Any]:
    """One query's request: BM25 match on content, ties broken by docid on the server too."""
    return {
        "query": {"match": {"content": {"query": query}}},
        "size": k,
        "sort": [{"_score": {"order": "desc"}}, {"docid": {"order": "asc"}}],
        "track_scores": True,
        "track_total_hits": False,
        "_source": False,
    }


def corpus_fingerprint(docids: Sequence[str], texts: Sequence[str]) -> str:
    """sha256 over (docid, text) pairs in docid order: the same collection gives the same value."""
    digest = hashlib.sha256()
    for docid, text in sorted(zip(docids, texts)):
        digest.update(json.dumps([docid, text], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def index_name_for(prefix: str, fingerprint: str, k1: float, b: float, analysis: dict[str, Any]) -> str:
    """A server index name that changes whenever the documents or the scoring settings do.

    Experiments that differ only in k1/b (queued side by side with `dvc exp`) then
    build separate indexes instead of overwriting one another's.
    """
    blob = json.dumps([fingerprint, float(k1), float(b), analysis], sort_keys=True, ensure_ascii=False)
    return f"{prefix.lower()}-{hashlib.sha256(blob.encode('utf-8')).hexdigest()[:12]}"
