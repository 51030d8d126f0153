"""The interface every lexical backend implements (bm25s in process, Elasticsearch on a server)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from ragtune.ranking import best_first

Hits = list[tuple[str, float]]  # (docid, score), best first, ties broken by docid


@runtime_checkable
class SparseRetriever(Protocol):
    name: str

    def index(self, docids: Sequence[str], texts: Sequence[str]) -> None: ...

    def search(self, queries: Sequence[str], k: int) -> list[Hits]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> SparseRetriever: ...


def ordered(hits: list[tuple[str, float]]) -> Hits:
    """Best first; equal scores ordered by docid so every run ranks identically."""
    return best_first(hits)
