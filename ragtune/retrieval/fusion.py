"""Combining rankings: weighted score fusion (`alpha`) and reciprocal rank fusion (`rrf_k`).

Runs are `RankedRun`s over one docid table with the same questions in the same rows. Scores of
different retrievers live on different scales, so weighted fusion normalises each question's
scores first (min-max by default, as ranx does; `zmuv`: z-scores, the pipeline's choice); a document missing
from a run gets 0 from it.
Everything is vectorised over all questions at once; results are cross-checked against
ranx.fusion in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ragtune.runs import RankedRun, tie_ranks


def normalise(run: RankedRun, method: str = "min-max") -> np.ndarray:
    """Per-question normalised scores (float64, 0 at padding)."""
    valid = run.ids >= 0
    scores = run.scores.astype(np.float64)
    if method == "min-max":
        low = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
        high = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = np.where(span > 0, (scores - low) / np.where(span > 0, span, 1), 1.0)
    elif method == "max":
        high = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
        normalised = np.where(high > 0, scores / np.where(high > 0, high, 1), 0.0)
    elif method == "sum":
        total = np.where(valid, scores, 0).sum(axis=1, keepdims=True)
        normalised = np.where(total > 0, scores / np.where(total > 0, total, 1), 0.0)
    elif method == "zmuv":  # zero mean, unit variance over the row's candidates (ranx's zmuv)
        count = valid.sum(axis=1, keepdims=True)
        mean = np.where(valid, scores, 0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
        std = np.sqrt(np.where(valid, (scores - mean) ** 2, 0).sum(axis=1, keepdims=True) / np.maximum(count, 1))
        normalised = np.where(std > 0, (scores - mean) / np.where(std > 0, std, 1), 0.0)
    else:
        raise ValueError(f"unknown normalisation {method!r} (min-max, max, sum, zmuv)")
    return np.where(valid, normalised, 0.0)


def accumulate(
    rows: np.ndarray,
    ids: np.ndarray,
    values: np.ndarray,
    qids: Sequence[str],
    docids: Sequence[str],
    depth: int,
    ties: np.ndarray | None = None,
    chunk: int = 4096,
) -> RankedRun:
    """Sum `values` per (row, doc) and rank each row: the core of every fusion.

    `rows`, `ids`, `values` are flat and aligned: contribution `values[i]` of document `ids[i]`
    to question `rows[i]`. Each row keeps its `depth` best documents (score descending, ties by
    docid). Works row by row on the entries a row has (a few hundred candidates, not the whole
    corpus, so a million-passage corpus costs no more), `chunk` rows at a time; equal documents
    are summed in their input order.
    """
    fused = RankedRun.empty(qids, docids, depth)
    if len(rows) == 0 or depth == 0 or len(docids) == 0:
        return fused
    ties = tie_ranks(docids) if ties is None else ties
    rows = np.asarray(rows, np.int64)
    order = np.argsort(rows, kind="stable")
    rows, ids, values = rows[order], np.asarray(ids, np.int64)[order], np.asarray(values, np.float64)[order]
    for start in range(0, len(qids), chunk):
        lo, hi = np.searchsorted(rows, [start, start + chunk])
        block = min(chunk, len(qids) - start)
        id_matrix, value_matrix = _row_matrix(rows[lo:hi] - start, block, ids[lo:hi], values[lo:hi], fill=(-1, 0.0))
        fused.ids[start : start + block], fused.scores[start : start + block] = _row_best(
            id_matrix, value_matrix, depth, ties
        )
    return fused


def accumulate_rows(
    ids: np.ndarray, values: np.ndarray, qids: Sequence[str], docids: Sequence[str], depth: int, chunk: int = 4096
) -> RankedRun:
    """`accumulate` of entries already laid out by question: row i of `ids` (-1 pads) and `values` holds question
    i's contributions, in order. Runs are such matrices, so their fusions skip the flat form's sort."""
    fused = RankedRun.empty(qids, docids, depth)
    if ids.size == 0 or depth == 0 or len(docids) == 0:
        return fused
    ties = tie_ranks(docids)
    for start in range(0, len(qids), chunk):
        stop = min(start + chunk, len(qids))
        fused.ids[start:stop], fused.scores[start:stop] = _row_best(ids[start:stop], values[start:stop], depth, ties)
    return fused


def _row_matrix(rows: np.ndarray, n_rows: int, *columns: np.ndarray, fill: tuple) -> list[np.ndarray]:
    """Flat entries sorted by row → (n_rows, widest row) matrices, one per column, `fill` in the room left."""
    counts = np.bincount(rows, minlength=n_rows)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max(initial=0))
    matrices = []
    for column, pad in zip(columns, fill):
        matrix = np.full((n_rows, width), pad, dtype=column.dtype)
        matrix[rows, slot] = column
        matrices.append(matrix)
    return matrices


def _row_best(ids: np.ndarray, values: np.ndarray, depth: int, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `depth` best documents by summed value, best first, equal sums by docid; -1 pads.
    `ids` (-1: nothing) and `values` are row-aligned matrices; entries of one (row, document) are summed in their
    order along the row; `ties`: each document's tie rank (ragtune.runs.tie_ranks)."""
    # Tie ranks that fit 16 bits sort by numpy's radix sort (stable, several times faster than on int64).
    kind = np.uint16 if len(ties) < np.iinfo(np.uint16).max else np.int64
    absent = np.iinfo(kind).max
    columns = np.append(ties.astype(kind), kind(absent))[ids]  # id -1 (nothing) reads the last entry: absent
    by_column = np.argsort(columns, axis=1, kind="stable")  # a document's entries side by side, in order
    columns = np.take_along_axis(columns, by_column, axis=1)
    values = np.take_along_axis(np.asarray(values, np.float64), by_column, axis=1)
    first = np.ones(columns.shape, dtype=bool)
    first[:, 1:] = columns[:, 1:] != columns[:, :-1]
    starts = np.flatnonzero(first)
    # Each document's sum in its first slot; the other slots, and nothing's, rank last (-inf).
    sums = np.full(columns.size, -np.inf)
    sums[starts] = np.add.reduceat(values.ravel(), starts) if len(starts) else 0.0
    sums[starts[columns.ravel()[starts] == absent]] = -np.inf
    sums = sums.reshape(columns.shape)
    ranked = np.argsort(-sums, axis=1, kind="stable")[:, :depth]  # score descending; equal scores keep docid order
    best_sums, best_columns = np.take_along_axis(sums, ranked, axis=1), np.take_along_axis(columns, ranked, axis=1)
    present = best_sums != -np.inf
    by_tie = np.argsort(ties)  # tie rank -> document position
    best_ids = by_tie[best_columns.astype(np.int64) * present]
    padded = np.full((len(ids), depth), -1, np.int64)
    padded_scores = np.zeros((len(ids), depth))
    width = best_sums.shape[1]
    padded[:, :width] = np.where(present, best_ids, -1)
    padded_scores[:, :width] = np.where(present, best_sums, 0.0)
    return padded, padded_scores


def _aligned(runs: Mapping[str, RankedRun]) -> RankedRun:
    first = next(iter(runs.values()))
    for name, run in runs.items():
        if run.qids != first.qids or run.docids != first.docids:
            raise ValueError(f"run {name!r} has other questions or another docid table than {next(iter(runs))!r}")
    return first


def weighted_sum(
    runs: Mapping[str, RankedRun], weights: Mapping[str, float], norm: str = "min-max", depth: int | None = None
) -> RankedRun:
    """Σ weight · normalised score per document; each question keeps its `depth` best (default: all)."""
    first = _aligned(runs)
    parts = [(run, weights.get(name, 0.0)) for name, run in runs.items() if weights.get(name, 0.0) != 0]
    if not parts:
        return RankedRun.empty(first.qids, first.docids, depth or 0)
    depth = sum(run.depth for run, _ in parts) if depth is None else depth
    ids = np.concatenate([run.ids for run, _ in parts], axis=1)  # each question's entries, run after run
    values = np.concatenate([weight * normalise(run, norm) for run, weight in parts], axis=1)
    return accumulate_rows(ids, values, first.qids, first.docids, depth)


def hybrid(
    sparse: RankedRun, dense: RankedRun, alpha: float, norm: str = "min-max", depth: int | None = None
) -> RankedRun:
    """alpha weighs the dense run, 1 - alpha the sparse one."""
    return weighted_sum({"sparse": sparse, "dense": dense}, {"sparse": 1.0 - alpha, "dense": alpha}, norm, depth)


def _rrf_parts(run: RankedRun, k: int, weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    valid = run.ids >= 0
    rows, columns = np.nonzero(valid)
    return rows, run.ids[valid], weight / (k + columns + 1.0)


def reciprocal_rank_fusion(
    runs: Mapping[str, RankedRun], k: int = 60, weights: Mapping[str, float] | None = None, depth: int | None = None
) -> RankedRun:
    """Σ weight / (k + rank) per document, ranks from 1 in each run's order."""
    first = _aligned(runs)
    parts = [_rrf_parts(run, k, 1.0 if weights is None else weights.get(name, 0.0)) for name, run in runs.items()]
    depth = sum(run.depth for run in runs.values()) if depth is None else depth
    return accumulate(*(np.concatenate(column) for column in zip(*parts)), first.qids, first.docids, depth)


def fuse_variants(
    run: RankedRun, owners: np.ndarray, qids: Sequence[str], k: int = 60, depth: int | None = None
) -> RankedRun:
    """RRF of several rows into one: row i of `run` (a query variant) counts for question `owners[i]`."""
    rows, ids, values = _rrf_parts(run, k, 1.0)
    return accumulate(
        np.asarray(owners, np.int64)[rows], ids, values, qids, run.docids, run.depth if depth is None else depth
    )
