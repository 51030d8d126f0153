"""The BM25 round trip that keeps a generated or file question only where its own document is found for it."""

from __future__ import annotations

from collections.abc import Sequence


def round_trip_filter(
    pairs: Sequence[dict], retrieved: Sequence[Sequence[str]], top_k: int
) -> tuple[list[dict], list[dict]]:
    """Keep a (query, docid) pair only when its document is in the query's top-k: the question is answerable."""
    kept, dropped = [], []
    for pair, docids in zip(pairs, retrieved):
        (kept if pair["docid"] in list(docids)[:top_k] else dropped).append(pair)
    return kept, dropped
