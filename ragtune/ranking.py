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
    ids = np.asarray(ids)
    ids = ids if np.issubdtype(ids.dtype, np.signedinteger) else ids.astype(np.int64)
    scores = np.asarray(scores)
    shape = ids.shape
    if ids.size == 0:
        return ids.astype(np.int32), scores.astype(scores.dtype)
    ids, scores = ids.reshape(-1, shape[-1]), scores.reshape(-1, shape[-1])
    valid = ids >= 0
    keys = ties[np.maximum(ids, 0)]
    ranked_ids, ranked_scores = ids, scores  # copied below where a row moves (the results are new arrays anyway)
    # A search library's top-k mostly comes in this order already: only the other rows are sorted (a stable sort
    # leaves an ordered row as it is). lexsort's last key sorts first; it is stable and puts NaN after every number.
    unsorted = ~_rows_in_ranking_order(valid, scores, keys)
    if unsorted.any():
        ranked_ids, ranked_scores = ids.copy(), scores.copy()
        order = np.lexsort((keys[unsorted], -scores[unsorted], ~valid[unsorted]), axis=-1)
        ranked_ids[unsorted] = np.take_along_axis(ids[unsorted], order, axis=-1)
        ranked_scores[unsorted] = np.take_along_axis(scores[unsorted], order, axis=-1)
    ranked_scores = np.where(ranked_ids >= 0, ranked_scores, 0).astype(scores.dtype)
    return ranked_ids.astype(np.int32).reshape(shape), ranked_scores.reshape(shape)


def _rows_in_ranking_order(valid: np.ndarray, scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per row (2-D arrays): already in the order rank_rows sorts into — padding only after the ids, scores
    non-increasing, equal scores by tie key. A row holding NaN counts as unsorted (the sort places NaN)."""
    both = valid[:, :-1] & valid[:, 1:]
    ordered = (scores[:, :-1] > scores[:, 1:]) | ((scores[:, :-1] == scores[:, 1:]) & (keys[:, :-1] <= keys[:, 1:]))
    rows = np.all(ordered | ~both, axis=1) & np.all(valid[:, :-1] | ~valid[:, 1:], axis=1)
    if np.issubdtype(scores.dtype, np.floating):
        rows &= ~np.isnan(scores).any(axis=1)
    return rows


def best_first(pairs: Iterable[tuple[Docid, float]]) -> list[tuple[Docid, float]]:
    """(docid, score) pairs in ranking order, each pair as given (a docid listed twice keeps its input order)."""
    pairs = list(pairs)
    scores = np.asarray([score for _, score in pairs], dtype=np.float64)
    ranked, _ = rank_rows(np.arange(len(pairs)), scores, tie_ranks([docid for docid, _ in pairs]))
    return [pairs[i] for i in ranked]
