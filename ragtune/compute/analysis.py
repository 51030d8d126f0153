"""Lexical analysis of a corpus on an engine (ragtune.compute): Kiwi for Korean, the English analyzer, the mixed one.
Each text is analysed alone, so every engine, batch size and chunk gives the same morphemes (tests/compute).

A corpus's morphemes take about 37 KB a passage as Python objects (docs/scale.md: +3.7 GB at 100,000 passages), so
prepare analyses `CHUNK` documents at a time and writes each chunk out before the next (`morpheme_rows`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine is handed in: analysing needs no model code (prepare's DVC deps)
    from ragtune.compute.engine import Engine

CHUNK = 16_384  # documents analysed before they are written out: ~600 MB of morphemes


@dataclasses.dataclass(frozen=True)
class AnalyseTask:
    language: str
    korean: tuple = ()  # the Kiwi analysis settings, as items (hashable)
    threads: int = 1

    def load(self):
        from ragtune.text.english import analyzer_for_language

        analyzer = analyzer_for_language(self.language, dict(self.korean) or None, num_workers=self.threads)
        return lambda columns: analyzer.morphemes(columns["text"])


def morphemes(engine: Engine, language: str, texts: Sequence[str], korean: dict | None = None) -> list:
    """`analyzer_for_language(language, korean).morphemes(texts)`, run by `engine`."""
    return list(iter_morphemes(engine, language, texts, korean, chunk=max(len(texts), 1)))


def iter_morphemes(
    engine: Engine, language: str, texts: Sequence[str], korean: dict | None = None, chunk: int = CHUNK
) -> Iterator[list]:
    """`morphemes`, one text's at a time, analysed `chunk` texts at a time by one pool, whose analyzer loads once (on
    Ray: once per actor, kept from chunk to chunk)."""
    if not texts:
        return
    pool = engine.pool(AnalyseTask(language, tuple(sorted((korean or {}).items())), engine.threads))
    for start in range(0, len(texts), chunk):
        for part in pool.map_batches({"text": list(texts[start : start + chunk])}):
            yield from part


def morpheme_rows(
    engine: Engine,
    language: str,
    documents: Sequence[Mapping],
    select: Callable[[list], list],
    check: Callable[[list[bool]], object],
) -> Iterator[dict]:
    """{"docid", "morphemes"} per document, analysed `CHUNK` at a time (for a streaming write: the corpus's morphemes
    are never all in memory). At the end, `check` gets whether `select` keeps any term of each document, before the
    caller's file is in place: an error there leaves nothing written."""
    indexable = []
    analysed = iter_morphemes(engine, language, [document["content"] for document in documents])
    for document, terms in zip(documents, analysed):
        indexable.append(bool(select(terms)))
        yield {"docid": document["docid"], "morphemes": terms}
    check(indexable)
