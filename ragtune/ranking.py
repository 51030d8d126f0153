"""The one ranking order in ragtune: score descending, equal scores by docid ascending.

Every ranking is sorted here: a run's rows (`ragtune.runs`), a lexical backend's hits
(`ragtune.retrieval.sparse`), a reranker's output (`ragtune.retrieval.rerank`), a metric's reading of a dict run
(`ragtune.evaluation.metrics`). So a ranking does not depend on the order its inputs came in, and every
reader of the same scores sees the same ranking.

Scores compare in their own precision (a run's float32, a Python float's float64); -0.0 equals
0.0; NaN ranks below every number (-inf included), equal NaNs by docid like equal scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np

Docid = TypeVar("Docid")


def tie_ranks(docids: Sequence[str]) -> np.ndarray:
    """Position of each docid in sorted order: the tie-break key of every ranking."""
    order = np.argsort(np.asarray(docids, dtype=object), kind="stable")
    ranks = np.empty(len(docids), dtype=np.int64)
    ranks[order] = np.arange(len(docids))
    return ranks


def rank_rows(ids: np.ndarray, scores: np.ndarray, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row (the last axis) in ranking order: ids >= 0 by score descending, then by `ties[id]`;
    padding (-1) last, with score 0. Ids come back int32, scores in their own dtype."""
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores)
    valid = ids >= 0
    # lexsort's last key sorts first; it is stable and puts NaN after every number.
    order = np.lexsort((ties[np.where(valid, ids, 0)], -scores, ~valid), axis=-1)
    ranked_ids = np.take_along_axis(ids, order, axis=-1)
    ranked_scores = np.take_along_axis(scores, order, axis=-1)
    return ranked_ids.astype(np.int32), np.where(ranked_ids >= 0, ranked_scores, 0).astype(scores.dtype)


def best_first(pairs: Iterable[tuple[Docid, float]]) -> list[tuple[Docid, float]]:
    """(docid, score) pairs in ranking order, each pair as given (a docid listed twice keeps its input order)."""
    pairs = list(pairs)
    scores = np.asarray([score for _, score in pairs], dtype=np.float64)
    ranked, _ = rank_rows(np.arange(len(pairs)), scores, tie_ranks([docid for docid, _ in pairs]))
    return [pairs[i] for i in ranked]
