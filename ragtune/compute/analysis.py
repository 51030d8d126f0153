"""Lexical analysis of a corpus on an engine (ragtune.compute): Kiwi for Korean, the English analyzer, the mixed one.
Each text is analysed alone, so every engine and batch size gives the same morphemes (tests/compute)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine is handed in: analysing needs no model code (prepare's DVC deps)
    from ragtune.compute.engine import Engine


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
    if not texts:
        return []
    task = AnalyseTask(language, tuple(sorted((korean or {}).items())), engine.threads)
    return [row for part in engine.pool(task).map_batches({"text": list(texts)}) for row in part]
